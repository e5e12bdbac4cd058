import Metrics

/// What a model's backend pool is doing now, for `/v1/stats` and the gauges of `/metrics`.
struct PoolStatus {
    var model: String
    /// Calls picked per backend and not finished (waiting for a slot or in flight).
    var inFlight: [String: Int]
    /// Calls waiting for a slot per backend.
    var waiting: [String: Int]
    /// Pairs admitted to the pool (the model's queue depth).
    var queued: Int
    /// Pairs waiting for their `batch_window`.
    var batching: Int
    var healthy: Set<String>
    var refused: Set<String>
    var backends: [String]

    init(_ runtime: ModelRuntime) {
        let pool = runtime.pool
        model = runtime.name
        inFlight = pool.inFlight
        waiting = pool.waitingForSlot
        queued = pool.admittedPairs
        batching = pool.batchingPairs
        healthy = Set(pool.healthyBackends)
        refused = pool.refusedBackends
        backends = pool.backends.map(\.name)
    }

    /// Sets the pool gauges (read at scrape time, so they are current whenever `/metrics` is read):
    /// `rerank_backend_in_flight`, `rerank_backend_queue_depth`, `rerank_backend_healthy` per backend and
    /// `rerank_model_queued_pairs` per model.
    static func publish(_ pools: [PoolStatus]) {
        for pool in pools {
            Gauge(label: "rerank_model_queued_pairs", dimensions: [("model", pool.model)]).record(pool.queued)
            for backend in pool.backends {
                let dimensions = [("model", pool.model), ("backend", backend)]
                Gauge(label: "rerank_backend_in_flight", dimensions: dimensions).record(pool.inFlight[backend] ?? 0)
                Gauge(label: "rerank_backend_queue_depth", dimensions: dimensions).record(pool.waiting[backend] ?? 0)
                Gauge(label: "rerank_backend_healthy", dimensions: dimensions).record(pool.healthy.contains(backend) ? 1 : 0)
            }
        }
    }
}
