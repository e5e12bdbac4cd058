import Prometheus

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

    /// Sets the pool gauges in the registry `/metrics` serves, just before it is read, so they are current:
    /// `rerank_backend_in_flight`, `rerank_backend_queue_depth`, `rerank_backend_healthy` per backend and
    /// `rerank_model_queued_pairs` per model.
    static func publish(_ pools: [PoolStatus], to registry: PrometheusCollectorRegistry) {
        for pool in pools {
            registry.makeGauge(name: "rerank_model_queued_pairs", labels: [("model", pool.model)]).set(Int64(pool.queued))
            for backend in pool.backends {
                let labels = [("model", pool.model), ("backend", backend)]
                registry.makeGauge(name: "rerank_backend_in_flight", labels: labels).set(Int64(pool.inFlight[backend] ?? 0))
                registry.makeGauge(name: "rerank_backend_queue_depth", labels: labels).set(Int64(pool.waiting[backend] ?? 0))
                registry.makeGauge(name: "rerank_backend_healthy", labels: labels).set(Int64(pool.healthy.contains(backend) ? 1 : 0))
            }
        }
    }
}
