import RerankCore
import Synchronization

/// The bounded in-process tier: a sharded CLOCK cache (second-chance LRU approximation). Not a ``CacheStore``:
/// it answers synchronously, with no IO and no write queue, so ``TieredCache`` asks it first and apart.
///
/// Lookups and inserts are O(1) under one shard's lock; eviction gives recently read entries a second
/// chance, so hot pairs stay while one-off pairs cycle out. Entries expire `ttl` seconds after they were
/// first stored anywhere (the `storedAt` carried from SQLite), never later.
/// ```swift
/// let memory = MemoryTier(capacity: 1_000_000, ttlSeconds: 0)
/// memory.insert(key, CachedScore(score: 0.9, storedAt: now))
/// memory.score(for: key, now: now)   // 0.9
/// ```
public final class MemoryTier: Sendable {
    struct Shard {
        var index: [CacheKey: Int] = [:]
        var keys: [CacheKey] = []
        var values: [CachedScore] = []
        var referenced: [Bool] = []
        var hand = 0
        let capacity: Int

        init(capacity: Int) {
            self.capacity = capacity
            index.reserveCapacity(min(capacity, 1 << 16))
        }

        mutating func get(_ key: CacheKey, notBefore: Int64) -> CachedScore? {
            guard let slot = index[key] else { return nil }
            let value = values[slot]
            guard value.storedAt >= notBefore else { return nil }
            referenced[slot] = true
            return value
        }

        mutating func insert(_ key: CacheKey, _ value: CachedScore) {
            if let slot = index[key] {
                values[slot] = value
                return
            }
            if keys.count < capacity {
                index[key] = keys.count
                keys.append(key)
                values.append(value)
                referenced.append(false)
                return
            }
            while referenced[hand] {
                referenced[hand] = false
                hand = (hand + 1) % capacity
            }
            index.removeValue(forKey: keys[hand])
            index[key] = hand
            keys[hand] = key
            values[hand] = value
            hand = (hand + 1) % capacity
        }
    }

    /// One lock per shard; each `Shard` is only touched under its own box's lock.
    final class Box: Sendable {
        let shard: Mutex<Shard>
        init(capacity: Int) { shard = Mutex(Shard(capacity: capacity)) }
    }

    private let boxes: [Box]
    public let capacity: Int
    public let ttlSeconds: Int64

    /// - Parameters:
    ///   - capacity: most entries kept (> 0).
    ///   - ttlSeconds: entries older than this are ignored; 0 keeps them forever.
    public init(capacity: Int, ttlSeconds: Int64) {
        precondition(capacity > 0, "use no memory tier instead of a zero-capacity one")
        let shardCount = capacity >= 4096 ? 16 : 1
        let perShard = (capacity + shardCount - 1) / shardCount
        self.boxes = (0..<shardCount).map { _ in Box(capacity: perShard) }
        self.capacity = perShard * shardCount
        self.ttlSeconds = ttlSeconds
    }

    @inline(__always) private func box(_ key: CacheKey) -> Box {
        boxes[Int(truncatingIfNeeded: key.w1 % UInt64(boxes.count))]
    }

    /// The live score for `key`, marking it recently used.
    public func score(for key: CacheKey, now: Int64) -> CachedScore? {
        let notBefore = ttlSeconds > 0 ? now - ttlSeconds : Int64.min
        return box(key).shard.withLock { $0.get(key, notBefore: notBefore) }
    }

    public func insert(_ key: CacheKey, _ value: CachedScore) {
        box(key).shard.withLock { $0.insert(key, value) }
    }

    public var count: Int {
        boxes.reduce(0) { total, box in total + box.shard.withLock { $0.keys.count } }
    }
}
