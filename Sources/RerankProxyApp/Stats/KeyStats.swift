import Metrics
import RerankCore
import Synchronization

/// Per API key counters for `/v1/stats` (`keys`) and `/metrics` (`rerank_key_*_total{key}`).
///
/// Dimensions stay bounded: the configured key names, and `unknown` for refused secrets.
final class KeyStats: Sendable {
    struct Counters: Encodable, Sendable, Equatable {
        var requests = 0
        var pairs = 0
        var hits = 0
        var rejected = 0
    }

    private struct Metrics: Sendable {
        let requests: Counter
        let pairs: Counter
        let hits: Counter
        let unauthorized: Counter
        let forbidden: Counter
        let limited: Counter
    }

    enum Rejection { case unauthorized, forbidden, rateLimited }

    private struct State {
        /// The configured key names and `unknown`, in order; `/v1/stats` lists these.
        var names: [String] = []
        /// Every name ever registered (a reload may remove a key while its last requests finish).
        var counters: [String: Counters] = [:]
        var metrics: [String: Metrics] = [:]
    }

    /// Protected by its own lock; metrics are emitted after it is released.
    private let state = Mutex(State())

    init(names: [String]) {
        register(names: names)
    }

    /// Makes `names` (and `unknown`) the keys `/v1/stats` lists, creating the counters and metric objects of new
    /// ones; a policy reload calls it, and keys that stay keep their counts.
    func register(names: [String]) {
        let all = names + ["unknown"]
        let known = state.withLock { Set($0.metrics.keys) }
        let created = all.filter { !known.contains($0) }.map { name in
            let key = [("key", name)]
            return (name, Metrics(
                requests: Counter(label: "rerank_key_requests_total", dimensions: key),
                pairs: Counter(label: "rerank_key_pairs_total", dimensions: key),
                hits: Counter(label: "rerank_key_hits_total", dimensions: key),
                unauthorized: Counter(label: "rerank_key_rejected_total", dimensions: key + [("reason", "unauthorized")]),
                forbidden: Counter(label: "rerank_key_rejected_total", dimensions: key + [("reason", "forbidden")]),
                limited: Counter(label: "rerank_key_rejected_total", dimensions: key + [("reason", "rate_limited")])
            ))
        }
        state.withLock { state in
            state.names = all
            state.metrics.merge(created) { a, _ in a }
            for name in all where state.counters[name] == nil { state.counters[name] = Counters() }
        }
    }

    /// A request the key made and what its unique pairs did.
    func served(_ name: String, tally: RequestTally) {
        let pairs = tally.memoryHits + tally.storeHits + tally.coalesced + tally.forwarded + tally.failed
        let hits = tally.memoryHits + tally.storeHits
        let metrics = state.withLock { state in
            state.counters[name]?.requests += 1
            state.counters[name]?.pairs += pairs
            state.counters[name]?.hits += hits
            return state.metrics[name]
        }
        guard let m = metrics else { return }
        m.requests.increment()
        m.pairs.increment(by: pairs)
        if hits > 0 { m.hits.increment(by: hits) }
    }

    /// A request refused for the key (`nil`: no valid key was presented).
    func rejected(_ name: String?, _ why: Rejection) {
        let name = name ?? "unknown"
        let metrics = state.withLock { state in
            state.counters[name]?.rejected += 1
            return state.metrics[name]
        }
        guard let m = metrics else { return }
        switch why {
        case .unauthorized: m.unauthorized.increment()
        case .forbidden: m.forbidden.increment()
        case .rateLimited: m.limited.increment()
        }
    }

    /// The counters of the configured keys and `unknown`.
    var snapshot: [String: Counters] {
        state.withLock { state in Dictionary(uniqueKeysWithValues: state.names.map { ($0, state.counters[$0] ?? Counters()) }) }
    }
}
