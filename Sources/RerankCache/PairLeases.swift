import RerankCore

/// Cross-replica coalescing: pairs one replica is scoring are leased in a store every replica shares, so
/// another replica that misses the same pair waits for its score instead of scoring it again.
///
/// ```swift
/// let owned = await leases.acquire(keys)                 // true: ours to score; false: another replica has it
/// let scores = await leases.wait(for: theirs, until: deadline)   // nil: its lease ended without a score, take over
/// ...score ours, store them (visible to lookups)...
/// await leases.release(ours)
/// ```
/// Contract: a lease expires on its own after the store's lease time, so a replica that dies while scoring
/// holds nobody up for longer than that. Every method is best effort: when the shared store is down or slow,
/// ``acquire(_:)`` answers `true` for every key (score it here: duplicate work, never a failed or hung request),
/// ``wait(for:until:)`` answers `nil`, and ``release(_:)`` does nothing. None of them throws.
public protocol PairLeases: Sendable {
    /// Takes the lease of each key that no replica holds; `true` where this replica now holds it.
    func acquire(_ keys: [CacheKey]) async -> [Bool]
    /// Waits until each key has a stored score, or its lease is gone without one, or `deadline` (a
    /// `ContinuousClock` instant) passes; the score per key, `nil` where there is none to take.
    func wait(for keys: [CacheKey], until deadline: ContinuousClock.Instant) async -> [Double?]
    /// Gives up this replica's leases early (after its scores are stored).
    func release(_ keys: [CacheKey]) async
    /// Stores `scores` where every replica sees them, then gives up the leases of `keys`: a waiter never sees
    /// a lease gone before its score is there. The default only releases (for stores whose `save` is
    /// already visible to every waiter).
    func release(_ keys: [CacheKey], storing scores: [(key: CacheKey, score: Double)]) async
}

extension PairLeases {
    public func release(_ keys: [CacheKey], storing scores: [(key: CacheKey, score: Double)]) async {
        await release(keys)
    }
}
