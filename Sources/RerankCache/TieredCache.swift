import Foundation
import Logging
import RerankCore
import Synchronization

/// The memory tier in front of an optional persistent store: one call looks a request's keys up in both.
///
/// A store failure is answered as a miss; it never fails the request. It is logged once when lookups start
/// failing (a warning) and once when they answer again, not once per request.
public final class TieredCache: Sendable {
    /// Where each looked-up key was found.
    public struct Lookup: Sendable {
        /// Scores in the order of the keys asked; `nil` is a miss.
        public var scores: [Double?]
        public var memoryHits: Int
        public var storeHits: Int
        public var storeFailed: Bool
        /// Per key, whether its hit came from the store (else memory); `nil` when the store served none.
        public var fromStore: [Bool]?
    }

    public let memory: MemoryTier?
    public let store: (any CacheStore)?
    private let logger: Logger
    private let now: @Sendable () -> Int64
    /// Told each lookup's misses and store round trip (`/v1/stats` tiers, `/metrics`); a request answered wholly
    /// from memory tells it nothing, so the hit path takes no lock for it.
    private let observer: (any CacheStoreObserver)?
    /// Whether the last store lookup failed: the warning is logged when this turns true, not per request.
    private let lookupsFailing = Atomic<Bool>(false)

    public init(
        memory: MemoryTier?,
        store: (any CacheStore)?,
        logger: Logger,
        observer: (any CacheStoreObserver)? = nil,
        now: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) }
    ) {
        self.memory = memory
        self.store = store
        self.logger = logger
        self.observer = observer
        self.now = now
    }

    /// Looks `keys` up in memory, then the misses in the store (one batched query), promoting store hits.
    public func lookup(_ keys: [CacheKey]) async -> Lookup {
        let now = self.now()
        var result = Lookup(scores: [Double?](repeating: nil, count: keys.count), memoryHits: 0, storeHits: 0, storeFailed: false)
        var missing: [Int] = []
        if let memory {
            for (i, key) in keys.enumerated() {
                if let hit = memory.score(for: key, now: now) {
                    result.scores[i] = hit.score
                    result.memoryHits += 1
                } else {
                    missing.append(i)
                }
            }
        } else {
            missing = Array(keys.indices)
        }
        guard !missing.isEmpty else { return result }
        guard let store else {
            if memory != nil { observer?.cacheLookedUp(memoryMisses: missing.count, storeAsked: 0, storeHits: 0, storeRoundTrip: nil) }
            return result
        }
        let started = ContinuousClock.now
        defer {
            observer?.cacheLookedUp(
                memoryMisses: memory == nil ? 0 : missing.count, storeAsked: missing.count, storeHits: result.storeHits,
                storeRoundTrip: started.duration(to: .now)
            )
        }
        do {
            let found = try await store.lookup(missing.map { keys[$0] })
            for (n, i) in missing.enumerated() {
                guard let hit = found[n] else { continue }
                result.scores[i] = hit.score
                result.storeHits += 1
                if result.fromStore == nil { result.fromStore = [Bool](repeating: false, count: keys.count) }
                result.fromStore?[i] = true
                memory?.insert(keys[i], hit)
            }
            if lookupsFailing.load(ordering: .relaxed), lookupsFailing.exchange(false, ordering: .relaxed) {
                logger.info("cache store lookups answer again", metadata: ["rerank.cache.tier": "\(store.name)"])
            }
        } catch {
            result.storeFailed = true
            if !lookupsFailing.exchange(true, ordering: .relaxed) {
                logger.warning("cache store lookups failing; treating them as misses", metadata: [
                    "rerank.cache.tier": "\(store.name)", "error.type": "\(error)",
                ])
            } else {
                logger.debug("cache store lookup failed; treating as misses", metadata: ["rerank.cache.tier": "\(store.name)", "error.type": "\(error)"])
            }
        }
        return result
    }

    /// A synchronous second look (memory and the store's write queue) for keys a request is about to
    /// compute: catches a flight that completed between this request's lookup and its claim.
    public func recheck(_ key: CacheKey) -> Double? {
        let now = self.now()
        if let hit = memory?.score(for: key, now: now) { return hit.score }
        if let queued = store?.pendingScore(key) { return queued.score }
        return nil
    }

    /// Keeps scores another replica stored (already in the shared store) in the memory tier only.
    public func remember(_ entries: [(key: CacheKey, score: Double)]) {
        guard let memory, !entries.isEmpty else { return }
        let storedAt = now()
        for entry in entries { memory.insert(entry.key, CachedScore(score: entry.score, storedAt: storedAt)) }
    }

    /// Stores fresh scores in every tier: memory at once, the store through its write-behind queue.
    public func save(_ entries: [(key: CacheKey, score: Double)]) {
        guard !entries.isEmpty else { return }
        let storedAt = now()
        let stamped = entries.map { (key: $0.key, score: CachedScore(score: $0.score, storedAt: storedAt)) }
        if let memory {
            for entry in stamped { memory.insert(entry.key, entry.score) }
        }
        store?.save(stamped)
    }
}
