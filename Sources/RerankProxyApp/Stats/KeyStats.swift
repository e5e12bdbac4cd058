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

    /// Protected by its own lock; metrics are emitted after it is released.
    private let counters: Mutex<[String: Counters]>
    private let metrics: [String: Metrics]

    /// - Parameter previous: the stats of the key ring a reload replaced; keys that stay keep their counts.
    init(names: [String], carryingOver previous: KeyStats? = nil) {
        let all = names + ["unknown"]
        let before = previous?.snapshot ?? [:]
        counters = Mutex(Dictionary(uniqueKeysWithValues: all.map { ($0, before[$0] ?? Counters()) }))
        metrics = Dictionary(uniqueKeysWithValues: all.map { name in
            let key = [("key", name)]
            return (name, Metrics(
                requests: Counter(label: "rerank_key_requests_total", dimensions: key),
                pairs: Counter(label: "rerank_key_pairs_total", dimensions: key),
                hits: Counter(label: "rerank_key_hits_total", dimensions: key),
                unauthorized: Counter(label: "rerank_key_rejected_total", dimensions: key + [("reason", "unauthorized")]),
                forbidden: Counter(label: "rerank_key_rejected_total", dimensions: key + [("reason", "forbidden")]),
                limited: Counter(label: "rerank_key_rejected_total", dimensions: key + [("reason", "rate_limited")])
            ))
        })
    }

    /// A request the key made and what its unique pairs did.
    func served(_ name: String, tally: RequestTally) {
        let pairs = tally.memoryHits + tally.storeHits + tally.coalesced + tally.forwarded + tally.failed
        let hits = tally.memoryHits + tally.storeHits
        counters.withLock { table in
            table[name]?.requests += 1
            table[name]?.pairs += pairs
            table[name]?.hits += hits
        }
        guard let m = metrics[name] else { return }
        m.requests.increment()
        m.pairs.increment(by: pairs)
        if hits > 0 { m.hits.increment(by: hits) }
    }

    /// A request refused for the key (`nil`: no valid key was presented).
    func rejected(_ name: String?, _ why: Rejection) {
        let name = name ?? "unknown"
        counters.withLock { $0[name]?.rejected += 1 }
        guard let m = metrics[name] else { return }
        switch why {
        case .unauthorized: m.unauthorized.increment()
        case .forbidden: m.forbidden.increment()
        case .rateLimited: m.limited.increment()
        }
    }

    var snapshot: [String: Counters] { counters.withLock { $0 } }
}
