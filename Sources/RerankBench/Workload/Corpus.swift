import RerankCore

/// A synthetic document collection: document `id`'s text is a pure function of (seed, id), 200–2000 bytes
/// of word salad, so traces store ids and every tool regenerates the same bytes.
struct Corpus: Sendable {
    let seed: UInt64

    static let words: [String] = [
        "reranker", "passage", "retrieval", "query", "vector", "index", "latency", "throughput", "cache", "model",
        "token", "batch", "gpu", "cosine", "bread", "flour", "yeast", "market", "stock", "weather", "river",
        "mountain", "history", "protein", "enzyme", "contract", "invoice", "policy", "kernel", "network",
        "packet", "router", "compiler", "function", "memory", "storage", "ledger", "harbor", "orchestra", "violin",
    ]

    /// The text of document `id`, `bytes` long when given, otherwise 200–2000 bytes chosen by the id.
    func text(_ id: Int, bytes: Int? = nil) -> String {
        var rng = SplitMix64(seed: seed ^ (UInt64(id) &* 0x9E37_79B9_7F4A_7C15))
        let target = bytes ?? (200 + Int(rng.next() % 1801))
        var out = "doc \(id):"
        out.reserveCapacity(target + 16)
        while out.utf8.count < target {
            out += " " + Self.words[Int(rng.next() % UInt64(Self.words.count))]
        }
        return String(out.utf8.prefix(target))!
    }

    /// The text of query `id`.
    func query(_ id: Int) -> String {
        var rng = SplitMix64(seed: seed &+ 0x5151 ^ UInt64(id))
        var out = "query \(id):"
        for _ in 0..<(4 + Int(rng.next() % 8)) {
            out += " " + Self.words[Int(rng.next() % UInt64(Self.words.count))]
        }
        return out + "?"
    }
}
