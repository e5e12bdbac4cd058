/// Orders scored documents the way every supported backend does: by score, descending.
public enum Ranking {
    /// The input positions to return, best first, cut to `topN` when it is smaller than the count.
    ///
    /// Ties keep input order, so the answer is deterministic.
    public static func order(scores: [Double], topN: Int?) -> [Int] {
        var order = Array(scores.indices)
        order.sort { a, b in
            let sa = scores[a], sb = scores[b]
            return sa > sb || (sa == sb && a < b)
        }
        if let topN, topN < order.count {
            order.removeSubrange(topN...)
        }
        return order
    }
}
