import Foundation
import RerankCore

/// One request of a trace: a query and its candidate documents, by id.
struct TraceRequest: Codable, Sendable {
    var q: Int
    var docs: [Int]
}

/// Generates realistic RAG rerank traffic.
///
/// - Query popularity is Zipf(s): a few queries come back very often, most rarely.
/// - A retriever returns candidates from the query's topic: queries in the same topic share most of their
///   candidates, and each repeat of a query shifts a few of them (new documents indexed, ANN noise).
/// - 10–100 candidates per request; documents are 200–2000 bytes (see ``Corpus``).
struct TraceGenerator {
    var seed: UInt64 = 42
    var requests = 5000
    var queries = 2000
    var zipfS = 1.1
    var corpusSize = 50_000
    var topicSize = 200
    var queriesPerTopic = 8
    /// Share of a repeated query's candidates replaced by others from its topic.
    var driftFraction = 0.1

    func generate() -> [TraceRequest] {
        var rng = SplitMix64(seed: seed)
        let cdf = Self.zipfCDF(count: queries, s: zipfS)
        let topics = max(1, queries / queriesPerTopic)
        var lastCandidates: [Int: [Int]] = [:]
        var trace: [TraceRequest] = []
        trace.reserveCapacity(requests)
        for _ in 0..<requests {
            let u = Double(rng.next() >> 11) / Double(1 << 53)
            let rank = Self.search(cdf, u)
            // Spread popular ranks over topics so the head is not all one topic.
            let query = (rank &* 7919) % queries
            let topic = query % topics
            let topicBase = (topic &* 104_729) % max(1, corpusSize - topicSize)
            var queryRNG = SplitMix64(seed: seed ^ UInt64(query) &* 31)
            let count = 10 + Int(queryRNG.next() % 91)
            var candidates: [Int]
            if let previous = lastCandidates[query] {
                candidates = previous
                let replace = max(1, Int(Double(count) * driftFraction))
                for _ in 0..<replace {
                    let slot = Int(rng.next() % UInt64(candidates.count))
                    candidates[slot] = topicBase + Int(rng.next() % UInt64(topicSize))
                }
            } else {
                // Same-topic queries start from overlapping windows of the topic's pool.
                let offset = Int(queryRNG.next() % UInt64(max(1, topicSize / 4)))
                candidates = (0..<count).map { topicBase + (offset + $0 * 3) % topicSize }
            }
            var seen = Set<Int>()
            candidates = candidates.filter { seen.insert($0).inserted }
            lastCandidates[query] = candidates
            trace.append(TraceRequest(q: query, docs: candidates))
        }
        return trace
    }

    static func uniquePairs(_ trace: [TraceRequest]) -> Int {
        var pairs = Set<Int64>()
        for request in trace {
            for doc in request.docs { pairs.insert(Int64(request.q) << 32 | Int64(doc)) }
        }
        return pairs.count
    }

    static func zipfCDF(count: Int, s: Double) -> [Double] {
        var weights = (1...max(1, count)).map { 1.0 / pow(Double($0), s) }
        let total = weights.reduce(0, +)
        var running = 0.0
        for i in weights.indices {
            running += weights[i] / total
            weights[i] = running
        }
        return weights
    }

    static func search(_ cdf: [Double], _ u: Double) -> Int {
        var low = 0
        var high = cdf.count - 1
        while low < high {
            let mid = (low + high) / 2
            if cdf[mid] < u { low = mid + 1 } else { high = mid }
        }
        return low
    }
}
