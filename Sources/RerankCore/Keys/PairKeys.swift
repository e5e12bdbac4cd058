/// The unique pairs of one request: each distinct document keyed once, and where every input position's
/// score comes from.
/// ```swift
/// let pairs = PairKeys(encoder: encoder, texts: ["a", "b", "a"])   // keys.count == 2, slotOf == [0, 1, 0]
/// ```
public struct PairKeys: Sendable {
    /// One key per distinct document, in first-seen order.
    public private(set) var keys: [CacheKey] = []
    /// For each input position, the index into ``keys`` of its document.
    public private(set) var slotOf: [Int]
    /// For each key, the first input position holding its document.
    public private(set) var firstIndex: [Int] = []
    private var slotByKey: [CacheKey: Int] = [:]

    public init(encoder: CacheKeyEncoder, texts: [String]) {
        slotOf = [Int](repeating: 0, count: texts.count)
        slotByKey.reserveCapacity(texts.count)
        keys.reserveCapacity(texts.count)
        for (i, text) in texts.enumerated() {
            let key = encoder.key(document: text)
            if let slot = slotByKey[key] {
                slotOf[i] = slot
            } else {
                slotOf[i] = keys.count
                slotByKey[key] = keys.count
                keys.append(key)
                firstIndex.append(i)
            }
        }
    }

    /// The slot of `key`, which must be one of this request's keys.
    public func slot(of key: CacheKey) -> Int {
        guard let slot = slotByKey[key] else { preconditionFailure("a key that is not this request's") }
        return slot
    }
}
