import RerankCore

/// A persistent store's write-behind queue (SQLite, Redis) and whether it is keeping up. Pure: the store holds it in a `Mutex`, calls one
/// method under the lock, and logs or reports the returned transition after releasing it.
///
/// Two degraded conditions, each entered and left once per episode so that logs say when it started and
/// when it ended, never once per request:
/// - *dropping*: a save found the queue full (`capacity` entries) and left scores out. It ends at the
///   first commit after a whole flush interval (take to take) without a drop.
/// - *failing*: a commit threw. It ends at the next successful commit.
/// ```swift
/// var queue = WriteQueue(capacity: 3)
/// let saved = queue.enqueue(entries)      // saved.startedDropping == true when this save filled it
/// let batch = queue.take()
/// let ended = queue.committed()           // ended.stoppedDropping: the episode's total, when it ended
/// ```
struct WriteQueue {
    /// Queued by `save`, not yet taken by a flush.
    private(set) var queued: [CacheKey: CachedScore] = [:]
    /// Taken by the flush in progress, visible until it commits.
    private(set) var flushing: [CacheKey: CachedScore] = [:]
    /// Keys both queued and flushing (re-saved while their flush runs): counted once in `count`.
    private var queuedAndFlushing = 0
    let capacity: Int
    /// Scores left out since this value was created.
    private(set) var droppedTotal = 0
    /// Scores left out in the current dropping episode; `nil` while every save fits.
    private(set) var droppingEpisode: Int?
    private var droppedSinceTake = 0
    /// Whether the batch being flushed was taken after an interval without drops.
    private var cleanInterval = true
    /// The last commit's error while commits fail.
    private(set) var failure: String?

    init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    /// Distinct keys waiting to be durable.
    var count: Int { queued.count + flushing.count - queuedAndFlushing }

    func score(_ key: CacheKey) -> CachedScore? { queued[key] ?? flushing[key] }

    struct Enqueued: Equatable {
        var dropped = 0
        /// This save began a dropping episode (log it).
        var startedDropping = false
    }

    /// Queues what fits; a key already queued is always updated in place.
    mutating func enqueue(_ entries: [(key: CacheKey, score: CachedScore)]) -> Enqueued {
        var result = Enqueued()
        for entry in entries {
            if count >= capacity, queued[entry.key] == nil {
                result.dropped += 1
            } else {
                if queued.updateValue(entry.score, forKey: entry.key) == nil, flushing[entry.key] != nil {
                    queuedAndFlushing += 1
                }
            }
        }
        guard result.dropped > 0 else { return result }
        droppedTotal += result.dropped
        droppedSinceTake += result.dropped
        if let episode = droppingEpisode {
            droppingEpisode = episode + result.dropped
        } else {
            droppingEpisode = result.dropped
            result.startedDropping = true
        }
        return result
    }

    /// Moves everything queued into the flushing batch (a failed flush's entries are retried with the new
    /// ones) and returns it.
    mutating func take() -> [CacheKey: CachedScore] {
        flushing.merge(queued) { _, new in new }
        queued = [:]
        queuedAndFlushing = 0
        cleanInterval = droppedSinceTake == 0
        droppedSinceTake = 0
        return flushing
    }

    struct Committed: Equatable {
        /// A dropping episode ended; the scores it left out.
        var stoppedDropping: Int?
        /// Commits had been failing and this one succeeded.
        var recovered = false
    }

    /// The taken batch is durable: forget it, and end the episodes this ends.
    mutating func committed() -> Committed {
        flushing = [:]
        queuedAndFlushing = 0
        var result = Committed(recovered: failure != nil)
        failure = nil
        if let episode = droppingEpisode, cleanInterval {
            droppingEpisode = nil
            result.stoppedDropping = episode
        }
        return result
    }

    /// The taken batch was not committed; it stays in `flushing` for the next try. Returns whether this
    /// began a failing episode (log it).
    mutating func failed(_ reason: String) -> Bool {
        defer { failure = reason }
        return failure == nil
    }

    var health: CacheStoreHealth {
        if let episode = droppingEpisode {
            return .degraded(reason: "write queue full (\(capacity) entries): \(episode) scores not persisted so far")
        }
        if let failure { return .degraded(reason: "cache writes failing: \(failure)") }
        return .ok
    }
}

extension SQLiteCacheStore {
    /// The queue's former name, kept for the tests written against it.
    typealias WriteQueue = RerankCache.WriteQueue
}
