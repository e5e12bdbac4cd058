import Foundation
import Logging
import RerankCore
import Synchronization

/// The shared persistent tier: scores in Redis (hiredis on `NIOThreadPool`), read with one `MGET` per
/// request, written behind in pipelines of `SET key value PX ttl` by ``RedisCacheWriter``.
///
/// Redis is never a single point of failure: when it is down or slower than the timeout, lookups answer
/// misses (counted as errors through the observer), saves stay queued (bounded; past `maxPending` they are
/// dropped and counted), ``health`` says `redis unreachable: …`, and the pool reconnects with backoff, so hits
/// resume without a restart. Key and value layout: ``RedisKeyspace``.
/// ```swift
/// let store = try RedisCacheStore(configuration: .init(url: "redis://127.0.0.1:6379/0", ttl: .seconds(86400)), logger: logger)
/// app.addServices(RedisCacheWriter(store: store, logger: logger))
/// let leases = store.leases            // cross-replica coalescing on the same pool
/// ```
public final class RedisCacheStore: CacheStore {
    public struct Configuration: Sendable {
        public var pool: RedisConnectionPool.Configuration
        /// Every key this store writes or reads starts with it.
        public var prefix: String
        /// Written with every score (`PX`); `.zero` means none.
        public var ttl: Duration
        /// How long a pair lease lasts (``RedisPairLeases``).
        public var lease: Duration
        /// Most scores queued for writing; past it new scores are dropped (they stay in the memory tier).
        public var maxPending: Int
        /// Most `SET`s sent in one pipeline.
        public var pipelineSize: Int

        /// - Throws: ``CacheError/open(path:reason:)`` for a URL that does not parse.
        public init(
            url: String, prefix: String = "rr:", poolSize: Int = 8, timeout: Duration = .milliseconds(50),
            ttl: Duration = .zero, lease: Duration = .seconds(10), maxPending: Int = 100_000, pipelineSize: Int = 1_000
        ) throws(CacheError) {
            self.pool = .init(endpoint: try RedisEndpoint(url: url), size: poolSize, timeout: timeout)
            self.prefix = prefix
            self.ttl = ttl
            self.lease = lease
            self.maxPending = maxPending
            self.pipelineSize = max(1, pipelineSize)
        }
    }

    public let name = "redis"
    public let configuration: Configuration
    public let pool: RedisConnectionPool
    /// Cross-replica pair leases on the same connection pool, owned by a random per-store id.
    public let leases: RedisPairLeases
    let keyspace: RedisKeyspace
    let logger: Logger
    let observer: (any CacheStoreObserver)?
    let now: @Sendable () -> Int64
    /// Protected by its own lock; held only to move dictionaries and flip flags, never across IO or logging.
    private let queue: Mutex<WriteQueue>
    private let written = Atomic<Int>(0)
    private let errors = Atomic<Int>(0)

    public init(
        configuration: Configuration,
        logger: Logger,
        observer: (any CacheStoreObserver)? = nil,
        time: TimeSource = .continuous,
        now: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) }
    ) {
        self.configuration = configuration
        self.logger = logger
        self.observer = observer
        self.now = now
        let ttl = configuration.ttl.components
        let keyspace = RedisKeyspace(
            prefix: Array(configuration.prefix.utf8),
            ttlMilliseconds: ttl.seconds * 1000 + ttl.attoseconds / 1_000_000_000_000_000
        )
        self.keyspace = keyspace
        self.pool = RedisConnectionPool(configuration: configuration.pool, time: time, logger: logger)
        self.leases = RedisPairLeases(pool: pool, keyspace: keyspace, lease: configuration.lease, time: time)
        self.queue = Mutex(WriteQueue(capacity: configuration.maxPending))
    }

    /// Keys this process has written since it started (Redis's own count is not read: no `DBSIZE`/`SCAN`).
    public var entryCount: Int { written.load(ordering: .relaxed) }

    /// Lookups or values that failed (Redis down or slow, a value that is not 8 bytes) since start.
    public var errorCount: Int { errors.load(ordering: .relaxed) }

    /// Scores not persisted because the write queue was full.
    public var droppedWriteCount: Int { queue.withLock { $0.droppedTotal } }

    /// Entries queued and not yet written.
    public var pendingCount: Int { queue.withLock { $0.count } }

    /// Degraded while Redis is unreachable, or the write queue drops scores or writes fail.
    public var health: CacheStoreHealth {
        if let reason = pool.downReason { return .degraded(reason: "redis unreachable: \(reason)") }
        return queue.withLock { $0.health }
    }

    public func pendingScore(_ key: CacheKey) -> CachedScore? {
        queue.withLock { $0.score(key) }
    }

    /// Queues scores for the writer; see ``SQLiteCacheStore/save(_:)`` for what a full queue does.
    public func save(_ entries: [(key: CacheKey, score: CachedScore)]) {
        queue.save(entries, tier: name, observer: observer, logger: logger)
    }

    /// Queued scores first, then one `MGET` for the rest. Never throws: Redis down, slow or answering
    /// garbage gives misses, counted through ``CacheStoreObserver/cacheStoreErrors(tier:count:)`` (so
    /// ``TieredCache`` does not log a warning per request; the pool logs each down/up change once).
    /// A Redis hit's `storedAt` is now: Redis keeps only the score and expires the key by its own TTL.
    public func lookup(_ keys: [CacheKey]) async throws(CacheError) -> [CachedScore?] {
        var results = [CachedScore?](repeating: nil, count: keys.count)
        var missing: [Int] = []
        queue.withLock { queue in
            for (i, key) in keys.enumerated() {
                if let queued = queue.score(key) { results[i] = queued } else { missing.append(i) }
            }
        }
        guard !missing.isEmpty else { return results }
        let command = keyspace.mget(missing.map { keys[$0] })
        let replies: [RedisReply]
        do {
            replies = try await pool.withConnection { try $0.pipeline([command]) }
        } catch {
            countError()
            logger.debug("redis lookup failed; answering misses", metadata: ["error.type": "\(error)"])
            return results
        }
        guard case .array(let values) = replies.first, values.count == missing.count else {
            countError()
            return results
        }
        let storedAt = now()
        var malformed = false
        for (n, i) in missing.enumerated() {
            switch values[n] {
            case .string(let bytes):
                if let score = RedisKeyspace.decode(bytes) {
                    results[i] = CachedScore(score: score, storedAt: storedAt)
                } else {
                    malformed = true
                }
            case .null: break
            default: malformed = true
            }
        }
        if malformed { countError() }
        return results
    }

    private func countError() {
        errors.add(1, ordering: .relaxed)
        observer?.cacheStoreErrors(tier: name, count: 1)
    }

    // MARK: - Writer side

    /// Writes everything queued so far in pipelines of `SET … PX ttl` on one connection. Returns how many.
    /// - Throws: ``CacheError``; the entries stay queued and are retried by the next flush.
    @discardableResult
    public func flush() async throws(CacheError) -> Int {
        let batch = queue.withLock { $0.take() }
        guard !batch.isEmpty else {
            finishEpisodes(queue.withLock { $0.committed() })
            return 0
        }
        let entries = batch.map { (key: $0.key, score: $0.value.score) }
        do {
            try await write(entries)
        } catch {
            let reason = "\(error)"
            if queue.withLock({ $0.failed(reason) }) {
                logger.warning("cache writes failing; scores stay queued and are retried", metadata: [
                    "rerank.cache.tier": "\(name)", "error.type": "\(reason)",
                ])
            }
            throw error
        }
        finishEpisodes(queue.withLock { $0.committed() })
        return entries.count
    }

    /// Writes `entries` at once (not through the queue), so that they are visible to every replica when it
    /// returns `true`; `false` when Redis could not take them (the caller's `save` still queues them).
    @discardableResult
    public func storeNow(_ entries: [(key: CacheKey, score: Double)]) async -> Bool {
        guard !entries.isEmpty else { return true }
        do {
            try await write(entries)
            return true
        } catch {
            logger.debug("redis write failed", metadata: ["error.type": "\(error)"])
            return false
        }
    }

    func write(_ entries: [(key: CacheKey, score: Double)]) async throws(CacheError) {
        let keyspace = self.keyspace
        let chunk = configuration.pipelineSize
        let commands = entries.map { keyspace.setCommand($0.key, score: $0.score) }
        // An error reply (e.g. OOM) leaves the connection usable, so it is returned rather than thrown inside.
        let refused = try await pool.withConnection { handle -> String? in
            var start = 0
            var refused: String?
            while start < commands.count {
                let end = min(start + chunk, commands.count)
                for reply in try handle.pipeline(Array(commands[start..<end])) {
                    if case .error(let message) = reply { refused = message }
                }
                start = end
            }
            return refused
        }
        if let refused { throw .write(reason: "redis refused a SET: \(refused)") }
        written.add(entries.count, ordering: .relaxed)
    }

    private func finishEpisodes(_ committed: WriteQueue.Committed) {
        if committed.recovered {
            logger.info("cache writes succeeding again", metadata: ["rerank.cache.tier": "\(name)"])
        }
        if let dropped = committed.stoppedDropping {
            logger.info("cache write queue drained; new scores are persisted again", metadata: [
                "rerank.cache.tier": "\(name)", "rerank.cache.dropped": "\(dropped)",
            ])
        }
    }

    /// Closes the pool's idle connections; call after the writer's final flush.
    public func close() { pool.close() }
}
