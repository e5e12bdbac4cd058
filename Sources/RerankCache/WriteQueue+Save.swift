import Logging
import RerankCore
import Synchronization

extension Mutex where Value == WriteQueue {
    /// A store's `save`: queues `entries` and, after the lock is released, reports what a full queue left out
    /// and logs once when dropping starts (the store logs when it ends, at its next clean commit).
    func save(
        _ entries: [(key: CacheKey, score: CachedScore)], tier: String, observer: (any CacheStoreObserver)?, logger: Logger
    ) {
        let enqueued = withLock { $0.enqueue(entries) }
        guard enqueued.dropped > 0 else { return }
        observer?.cacheWritesDropped(tier: tier, count: enqueued.dropped)
        if enqueued.startedDropping {
            let capacity = withLock { $0.capacity }
            logger.warning("cache write queue is full; new scores are not persisted until it drains", metadata: [
                "rerank.cache.tier": "\(tier)", "rerank.cache.max_pending": "\(capacity)",
            ])
        }
    }
}
