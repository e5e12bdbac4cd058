import RerankCache
import RerankCore

/// The body of `/v1/stats`: what the proxy saved and how its tiers and backends are doing.
struct StatsReport: Encodable {
    struct Pairs: Encodable {
        var total, hits, coalesced, forwarded, failed: Int
    }

    struct Tier: Encodable {
        var hits: Int
        /// Keys looked up here and not found (for the store: including keys whose lookup failed).
        var misses: Int
        var entries: Int
        var capacity: Int?
        var errors: Int?
        var dropped_writes: Int?
        /// The store's lookup round trip (one per request that missed in memory), in milliseconds.
        var lookup_ms: Latency?
    }

    struct Latency: Encodable {
        var p50: Double
        var p99: Double
    }

    struct Backend: Encodable {
        var name: String
        var model: String
        var requests: Int
        var pairs: Int
        var errors: Int
        /// Calls picked for it and not finished (waiting for a slot or in flight).
        var in_flight: Int
        /// Refused for good by the model's canary check.
        var refused: Bool
        /// Not ejected (nor refused): balancing may pick it.
        var healthy: Bool
        /// Calls waiting in the proxy for one of its `max_concurrency` slots (part of `in_flight`).
        var queued: Int
        /// Calls that retried, on this backend, a call that failed on another (`retries`).
        var retries: Int
        /// Pairs per call.
        var mean_batch: Double
        /// Client requests per successful call: above 1 when `batch_window` packs several requests into one call.
        var mean_batch_requests: Double
        var latency_ms: Latency
    }

    struct Model: Encodable {
        var name: String
        /// Requests refused with 429 because the model's queue was full (`max_queue`).
        var shed: Int
        /// Pairs admitted to the pool now (waiting for a slot or in flight).
        var queued_pairs: Int
        /// Purges so far (`POST /admin/purge`); set by ``StatusController``.
        var cache_generation: UInt64? = nil
        /// Of those, pairs waiting for their `batch_window` to end.
        var batching_pairs: Int
    }

    var requests: Int
    var pairs: Pairs
    var hit_ratio: Double
    /// `memory`, and the store under its own name (`sqlite`).
    var tiers: [String: Tier]
    var store_health: StoreStatus.Report
    var coalescing_in_flight: Int
    var backends: [Backend]
    /// Per API key (with `unknown` for refused secrets), when keys are configured.
    var keys: [String: KeyStats.Counters]?
    var models: [Model]
    var uptime_seconds: Double
    /// The policy in use: its file, hash, generation and reload counts (set by the status controller).
    var policy: ReloadStats.Report?

    init(
        snapshot s: ProxyStats.Snapshot, cache: TieredCache, storeHealth: StoreStatus.Report, inFlight: Int,
        pools: [PoolStatus] = [], keys: [String: KeyStats.Counters]? = nil
    ) {
        self.keys = keys
        requests = s.requests
        pairs = Pairs(total: s.pairs.total, hits: s.pairs.hits, coalesced: s.pairs.coalesced, forwarded: s.pairs.forwarded, failed: s.pairs.failed)
        hit_ratio = s.pairs.total > 0 ? Double(s.pairs.hits) / Double(s.pairs.total) : 0
        tiers = ["memory": Tier(hits: s.pairs.memoryHits, misses: s.memoryMisses, entries: cache.memory?.count ?? 0, capacity: cache.memory?.capacity ?? 0)]
        if let store = cache.store {
            let lookups = s.storeLookupMicros
            tiers[store.name] = Tier(
                hits: s.pairs.storeHits, misses: s.storeMisses, entries: store.entryCount, errors: s.storeErrors, dropped_writes: s.droppedWrites,
                lookup_ms: Latency(
                    p50: Double(lookups.valueAtPercentile(50)) / 1000, p99: Double(lookups.valueAtPercentile(99)) / 1000
                )
            )
        }
        store_health = storeHealth
        coalescing_in_flight = inFlight
        backends = s.backends.map { backend in
            let pool = pools.first { $0.model == backend.counters.model }
            let histogram = backend.counters.latencyMicros
            let answered = backend.counters.requests > 0
            return Backend(
                name: backend.name, model: backend.counters.model, requests: backend.counters.requests, pairs: backend.counters.pairs,
                errors: backend.counters.errors,
                in_flight: pool?.inFlight[backend.name] ?? 0,
                refused: pool?.refused.contains(backend.name) ?? false,
                healthy: pool?.healthy.contains(backend.name) ?? false,
                queued: pool?.waiting[backend.name] ?? 0,
                retries: backend.counters.retries,
                mean_batch: answered ? Double(backend.counters.pairs) / Double(backend.counters.requests) : 0,
                mean_batch_requests: backend.counters.requests > backend.counters.errors
                    ? Double(backend.counters.batchedRequests) / Double(backend.counters.requests - backend.counters.errors) : 0,
                latency_ms: Latency(
                    p50: answered ? Double(histogram.valueAtPercentile(50)) / 1000 : 0,
                    p99: answered ? Double(histogram.valueAtPercentile(99)) / 1000 : 0
                )
            )
        }
        models = pools.map { Model(name: $0.model, shed: s.shed[$0.model] ?? 0, queued_pairs: $0.queued, batching_pairs: $0.batching) }
        uptime_seconds = (s.uptime * 1000).rounded() / 1000
    }
}
