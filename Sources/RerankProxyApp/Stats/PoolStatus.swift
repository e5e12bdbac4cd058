import Prometheus
import Synchronization

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
}

/// The pool gauges of `/metrics`, set just before it is read so they are current: `rerank_backend_in_flight`,
/// `rerank_backend_queue_depth`, `rerank_backend_healthy` per backend and `rerank_model_queued_pairs` per model.
/// A backend or model that a reload removed is unregistered, so its last value does not linger.
final class PoolGauges: Sendable {
    private struct Key: Hashable {
        var name: String
        var model: String
        var backend: String?

        var labels: [(String, String)] { [("model", model)] + (backend.map { [("backend", $0)] } ?? []) }
    }

    private let registry: PrometheusCollectorRegistry
    private let published = Mutex<Set<Key>>([])

    init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
    }

    func publish(_ pools: [PoolStatus]) {
        var current = Set<Key>()
        func set(_ key: Key, _ value: Int) {
            registry.makeGauge(name: key.name, labels: key.labels).set(Int64(value))
            current.insert(key)
        }
        for pool in pools {
            set(Key(name: "rerank_model_queued_pairs", model: pool.model), pool.queued)
            for backend in pool.backends {
                set(Key(name: "rerank_backend_in_flight", model: pool.model, backend: backend), pool.inFlight[backend] ?? 0)
                set(Key(name: "rerank_backend_queue_depth", model: pool.model, backend: backend), pool.waiting[backend] ?? 0)
                set(Key(name: "rerank_backend_healthy", model: pool.model, backend: backend), pool.healthy.contains(backend) ? 1 : 0)
            }
        }
        let gone = published.withLock { published in
            defer { published = current }
            return published.subtracting(current)
        }
        for key in gone { registry.unregisterGauge(registry.makeGauge(name: key.name, labels: key.labels)) }
    }
}
