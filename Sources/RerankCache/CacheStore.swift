import RerankCore

/// A stored score and when it was stored (seconds since 1970), so tiers above can honour the same TTL.
public struct CachedScore: Sendable, Equatable {
    public var score: Double
    public var storedAt: Int64

    public init(score: Double, storedAt: Int64) {
        self.score = score
        self.storedAt = storedAt
    }
}

/// A persistent score store behind the in-process memory tier (SQLite, Redis).
///
/// Contract:
/// - ``lookup(_:)`` answers for many keys in one round trip, in the order given, `nil` for a miss or an
///   expired entry. It may be called from any task concurrently, and never blocks a concurrency thread.
/// - ``save(_:)`` never waits for IO: it queues the entries, which become visible to ``pendingScore(_:)``
///   and ``lookup(_:)`` at once and durable once the store's writer flushes them.
/// - A store that fails throws ``CacheError``; callers treat that as a miss, never as a failed request.
/// - ``health`` is cheap (no IO) and says whether what ``save(_:)`` is given is being persisted.
public protocol CacheStore: Sendable {
    /// The tier's name in stats and metrics (`sqlite`, `redis`).
    var name: String { get }
    /// Stored entries (approximate while writes are pending).
    var entryCount: Int { get }
    /// Whether scores given to ``save(_:)`` are being persisted; no IO.
    var health: CacheStoreHealth { get }
    func lookup(_ keys: [CacheKey]) async throws(CacheError) -> [CachedScore?]
    func save(_ entries: [(key: CacheKey, score: CachedScore)])
    /// A score queued by ``save(_:)`` and not yet confirmed durable; no IO.
    func pendingScore(_ key: CacheKey) -> CachedScore?
}

extension CacheStore {
    public var health: CacheStoreHealth { .ok }
}

/// Whether a persistent store keeps what it is given. Lookups answer in both cases.
public enum CacheStoreHealth: Sendable, Equatable {
    case ok
    /// Lookups still answer, but some scores are not being persisted (the write queue is full or commits fail).
    case degraded(reason: String)
}

/// Receives a persistent store's write-side events; the app's stats and metrics implement it.
///
/// Called without any lock of the store held, from the task that saved or flushed.
public protocol CacheStoreObserver: Sendable {
    /// `count` scores were not queued for writing because the write queue was full.
    func cacheWritesDropped(tier: String, count: Int)
    /// `count` lookups of a store that answers misses instead of throwing (Redis down, slow, or holding a
    /// value that is not a score) failed.
    func cacheStoreErrors(tier: String, count: Int)
    /// One ``TieredCache`` lookup that missed in memory: `memoryMisses` keys not in the memory tier, of which
    /// `storeAsked` went to the store in one round trip of `storeRoundTrip` (`nil` when there is no store) and
    /// `storeHits` were found there.
    func cacheLookedUp(memoryMisses: Int, storeAsked: Int, storeHits: Int, storeRoundTrip: Duration?)
}

extension CacheStoreObserver {
    public func cacheStoreErrors(tier: String, count: Int) {}
    public func cacheLookedUp(memoryMisses: Int, storeAsked: Int, storeHits: Int, storeRoundTrip: Duration?) {}
}

/// Why a cache tier could not answer.
public enum CacheError: Error, CustomStringConvertible, Sendable {
    case open(path: String, reason: String)
    case query(reason: String)
    case write(reason: String)

    public var description: String {
        switch self {
        case .open(let path, let reason): "cannot open cache store at \(path): \(reason)"
        case .query(let reason): "cache lookup failed: \(reason)"
        case .write(let reason): "cache write failed: \(reason)"
        }
    }
}
