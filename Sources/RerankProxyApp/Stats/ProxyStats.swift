import Foundation
import Histogram
import Metrics
import RerankBackends
import RerankCache
import RerankCore
import Synchronization

/// What one request did with its unique pairs. Every pair is exactly one of hit, coalesced, forwarded, failed.
extension RequestTally {
    var hits: Int { memoryHits + storeHits }
    var total: Int { hits + coalesced + forwarded + failed }
}

/// The counters behind `/v1/stats`, also emitted to swift-metrics (and so to `/metrics`).
///
/// swift-metrics can only write, so the numbers `/v1/stats` serves are kept here as well.
final class ProxyStats: BackendPoolObserver, CacheStoreObserver, Sendable {
    struct BackendCounters {
        var model: String
        var requests = 0
        var pairs = 0
        var errors = 0
        /// Calls that retried a call failed on another backend (`retries`).
        var retries = 0
        /// Client requests whose pairs the successful calls carried (more than `requests` when `batch_window` packs them).
        var batchedRequests = 0
        var latencyMicros = Histogram<UInt64>(numberOfSignificantValueDigits: .three)
    }

    struct Counters {
        var requests = 0
        var pairs = RequestTally()
        var storeErrors = 0
        var droppedWrites = 0
        /// Keys looked up and not found, per tier (a store miss includes a key whose lookup failed).
        var memoryMisses = 0
        var storeMisses = 0
        /// One store lookup round trip each (an `MGET`, or one SQLite read of a request's keys).
        var storeLookupMicros = Histogram<UInt64>(numberOfSignificantValueDigits: .three)
        var backends: [String: BackendCounters] = [:]
        var backendOrder: [String] = []
        /// Calls refused at once per model because its queue was full.
        var shed: [String: Int] = [:]
        /// Per backend, the metric objects (created once: at start, or when a reload adds the backend).
        var backendMetrics: [String: BackendMetrics] = [:]
        /// `rerank_shed_requests_total{model}`, created once per model.
        var shedMetrics: [String: Counter] = [:]
    }

    /// The metric objects, created once (swift-metrics looks factories up on creation).
    struct RequestMetrics: Sendable {
        let requests: Counter
        let pairsHit: Counter
        let pairsCoalesced: Counter
        let pairsForwarded: Counter
        let pairsFailed: Counter
        let memoryHits: Counter
        let storeHits: Counter
        let storeErrors: Counter
        let droppedWrites: Counter
        let memoryMisses: Counter
        let storeMisses: Counter
        let storeLookup: Metrics.Timer

        init(storeName: String) {
            requests = Counter(label: "rerank_requests_total")
            pairsHit = Counter(label: "rerank_pairs_total", dimensions: [("result", "hit")])
            pairsCoalesced = Counter(label: "rerank_pairs_total", dimensions: [("result", "coalesced")])
            pairsForwarded = Counter(label: "rerank_pairs_total", dimensions: [("result", "forwarded")])
            pairsFailed = Counter(label: "rerank_pairs_total", dimensions: [("result", "failed")])
            memoryHits = Counter(label: "rerank_cache_hits_total", dimensions: [("tier", "memory")])
            storeHits = Counter(label: "rerank_cache_hits_total", dimensions: [("tier", storeName)])
            storeErrors = Counter(label: "rerank_cache_errors_total", dimensions: [("tier", storeName)])
            droppedWrites = Counter(label: "rerank_cache_dropped_writes_total", dimensions: [("tier", storeName)])
            memoryMisses = Counter(label: "rerank_cache_misses_total", dimensions: [("tier", "memory")])
            storeMisses = Counter(label: "rerank_cache_misses_total", dimensions: [("tier", storeName)])
            storeLookup = Metrics.Timer(label: "rerank_cache_lookup_duration_seconds", dimensions: [("tier", storeName)], preferredDisplayUnit: .seconds)
        }
    }

    /// Per-backend metric objects, created when the pool is built.
    struct BackendMetrics: Sendable {
        let pairs: Counter
        let errors: Counter
        let duration: Metrics.Timer
        let calls: Counter
        let retries: Counter
        let batchedRequests: Counter
    }

    private let counters = Mutex(Counters())
    private let metrics: RequestMetrics
    let started = Date()

    /// - Parameter backends: (model, backend name) of every configured backend, in policy order.
    init(storeName: String, backends: [(model: String, backend: String)]) {
        metrics = RequestMetrics(storeName: storeName)
        register(backends: backends)
    }

    /// Makes `backends` the ones `/v1/stats` lists, in this order, creating the counters and metric objects of any
    /// not seen before (a reload added them); counts of backends that stay are kept.
    func register(backends: [(model: String, backend: String)]) {
        let (known, knownModels) = counters.withLock { (Set($0.backendMetrics.keys), Set($0.shedMetrics.keys)) }
        var created: [String: BackendMetrics] = [:]
        for (model, backend) in backends where !known.contains(Self.key(model: model, backend: backend)) {
            let dimensions = [("model", model), ("backend", backend)]
            created[Self.key(model: model, backend: backend)] = BackendMetrics(
                pairs: Counter(label: "rerank_backend_pairs_total", dimensions: dimensions),
                errors: Counter(label: "rerank_backend_errors_total", dimensions: dimensions),
                duration: Metrics.Timer(label: "rerank_backend_request_duration_seconds", dimensions: dimensions, preferredDisplayUnit: .seconds),
                calls: Counter(label: "rerank_backend_calls_total", dimensions: dimensions),
                retries: Counter(label: "rerank_backend_retries_total", dimensions: dimensions),
                batchedRequests: Counter(label: "rerank_backend_batched_requests_total", dimensions: dimensions)
            )
        }
        let models = Set(backends.map(\.model)).subtracting(knownModels)
        let shed = models.map { ($0, Counter(label: "rerank_shed_requests_total", dimensions: [("model", $0)])) }
        // Metric objects are made outside the lock (the factory has its own); one lock then adopts them.
        counters.withLock { c in
            c.backendMetrics.merge(created) { a, _ in a }
            c.shedMetrics.merge(shed) { a, _ in a }
            c.backendOrder = backends.map { Self.key(model: $0.model, backend: $0.backend) }
            for (model, backend) in backends where c.backends[Self.key(model: model, backend: backend)] == nil {
                c.backends[Self.key(model: model, backend: backend)] = BackendCounters(model: model)
            }
        }
    }

    private static func key(model: String, backend: String) -> String { model + "\u{0}" + backend }

    /// Whole microseconds, for the latency histograms.
    private static func micros(_ duration: Duration) -> UInt64 {
        let (seconds, attoseconds) = duration.components
        return UInt64(max(0, seconds * 1_000_000 + attoseconds / 1_000_000_000_000))
    }

    func record(_ tally: RequestTally) {
        counters.withLock { c in
            c.requests += 1
            c.pairs.memoryHits += tally.memoryHits
            c.pairs.storeHits += tally.storeHits
            c.pairs.coalesced += tally.coalesced
            c.pairs.forwarded += tally.forwarded
            c.pairs.failed += tally.failed
            if tally.storeFailed { c.storeErrors += 1 }
        }
        metrics.requests.increment()
        if tally.hits > 0 { metrics.pairsHit.increment(by: tally.hits) }
        if tally.memoryHits > 0 { metrics.memoryHits.increment(by: tally.memoryHits) }
        if tally.storeHits > 0 { metrics.storeHits.increment(by: tally.storeHits) }
        if tally.coalesced > 0 { metrics.pairsCoalesced.increment(by: tally.coalesced) }
        if tally.forwarded > 0 { metrics.pairsForwarded.increment(by: tally.forwarded) }
        if tally.failed > 0 { metrics.pairsFailed.increment(by: tally.failed) }
        if tally.storeFailed { metrics.storeErrors.increment() }
    }

    func backendCall(model: String, backend: String, pairs: Int, duration: Duration, error: BackendError?, requests: Int, retry: Bool) {
        let key = Self.key(model: model, backend: backend)
        let micros = Self.micros(duration)
        let backendMetrics = counters.withLock { c -> BackendMetrics? in
            // Modified in place through optional chaining: no copy of the histogram, no allocation per call.
            if c.backends[key] == nil { c.backends[key] = BackendCounters(model: model) }
            c.backends[key]?.requests += 1
            c.backends[key]?.pairs += pairs
            if error != nil { c.backends[key]?.errors += 1 } else { c.backends[key]?.batchedRequests += requests }
            if retry { c.backends[key]?.retries += 1 }
            _ = c.backends[key]?.latencyMicros.record(micros)
            return c.backendMetrics[key]
        }
        if let m = backendMetrics {
            m.pairs.increment(by: pairs)
            m.calls.increment()
            if retry { m.retries.increment() }
            if error != nil { m.errors.increment() } else { m.batchedRequests.increment(by: requests) }
            m.duration.recordNanoseconds(Int64(micros) * 1000)
        }
    }

    func shed(model: String, pairs: Int) {
        counters.withLock { c in
            c.shed[model, default: 0] += 1
            return c.shedMetrics[model]
        }?.increment()
    }

    func cacheStoreErrors(tier: String, count: Int) {
        counters.withLock { $0.storeErrors += count }
        metrics.storeErrors.increment(by: count)
    }

    func cacheLookedUp(memoryMisses: Int, storeAsked: Int, storeHits: Int, storeRoundTrip: Duration?) {
        let storeMisses = storeAsked - storeHits
        let micros = storeRoundTrip.map(Self.micros)
        counters.withLock { c in
            c.memoryMisses += memoryMisses
            c.storeMisses += storeMisses
            if let micros { _ = c.storeLookupMicros.record(micros) }
        }
        if memoryMisses > 0 { metrics.memoryMisses.increment(by: memoryMisses) }
        if storeMisses > 0 { metrics.storeMisses.increment(by: storeMisses) }
        if let micros { metrics.storeLookup.recordNanoseconds(Int64(micros) * 1000) }
    }

    func cacheWritesDropped(tier: String, count: Int) {
        counters.withLock { $0.droppedWrites += count }
        metrics.droppedWrites.increment(by: count)
    }

    struct Snapshot {
        var requests: Int
        var pairs: RequestTally
        var storeErrors: Int
        var droppedWrites: Int
        var memoryMisses: Int
        var storeMisses: Int
        var storeLookupMicros: Histogram<UInt64>
        var backends: [(name: String, counters: BackendCounters)]
        var shed: [String: Int]
        var uptime: TimeInterval
    }

    func snapshot() -> Snapshot {
        counters.withLock { c in
            Snapshot(
                requests: c.requests,
                pairs: c.pairs,
                storeErrors: c.storeErrors,
                droppedWrites: c.droppedWrites,
                memoryMisses: c.memoryMisses,
                storeMisses: c.storeMisses,
                storeLookupMicros: c.storeLookupMicros,
                backends: c.backendOrder.compactMap { key in
                    c.backends[key].map { (String(key.split(separator: "\u{0}", maxSplits: 1).last ?? ""), $0) }
                },
                shed: c.shed,
                uptime: Date().timeIntervalSince(started)
            )
        }
    }
}
