import Foundation
import GRDB
import Logging
import RerankCore
import Synchronization

/// The embedded persistent tier: one SQLite file in WAL mode, read in batches, written behind.
///
/// Reads run on GRDB's reader queues (never a concurrency or event-loop thread), one `IN (...)` query
/// per request. Writes are queued by ``save(_:)`` and committed in batches by ``SQLiteCacheWriter``, a
/// `Service`; until then lookups see them through the pending map, so nothing queued is ever missed.
/// ```swift
/// let store = try SQLiteCacheStore(configuration: .init(path: "data/scores.sqlite"), logger: logger)
/// app.addServices(SQLiteCacheWriter(store: store, logger: logger))
/// ```
public final class SQLiteCacheStore: CacheStore {
    public struct Configuration: Sendable {
        public var path: String
        /// Most rows kept; the oldest are deleted past it. 0 means unbounded.
        public var maxEntries: Int
        /// Rows older than this are ignored and swept; 0 keeps them forever.
        public var ttlSeconds: Int64

        /// Most entries queued for writing; past it new scores are not persisted (they stay in the memory
        /// tier) until the writer catches up, so a store that cannot write cannot exhaust memory.
        public var maxPending: Int

        public init(path: String, maxEntries: Int = 50_000_000, ttlSeconds: Int64 = 0, maxPending: Int = 1_000_000) {
            self.path = path
            self.maxEntries = maxEntries
            self.ttlSeconds = ttlSeconds
            self.maxPending = maxPending
        }
    }

    public let name = "sqlite"
    public let configuration: Configuration
    let pool: DatabasePool
    let logger: Logger
    let observer: (any CacheStoreObserver)?
    let now: @Sendable () -> Int64
    /// Protected by its own lock; held only to move dictionaries and flip flags, never across IO or logging.
    private let queue: Mutex<WriteQueue>
    /// Rows in the file: read from the `meta` row at open, then kept exact by the writer from SQLite's
    /// change counts (the `meta` row is updated in the same transactions).
    let rowCount: RowCounter

    /// Opens (creating if needed) the database file and its schema.
    ///
    /// The entry count is read from the `meta` table, never counted, except once for a file written by a
    /// version without it. To move an unusable file aside instead of failing, use
    /// ``open(configuration:logger:observer:now:)``.
    /// - Throws: ``CacheError/open(path:reason:)``.
    public convenience init(
        configuration: Configuration,
        logger: Logger,
        observer: (any CacheStoreObserver)? = nil,
        now: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) }
    ) throws(CacheError) {
        let opened: (pool: DatabasePool, count: Int)
        do {
            opened = try Self.openDatabase(configuration: configuration, logger: logger)
        } catch {
            throw .open(path: configuration.path, reason: "\(error)")
        }
        self.init(pool: opened.pool, count: opened.count, configuration: configuration, logger: logger, observer: observer, now: now)
    }

    init(
        pool: DatabasePool,
        count: Int,
        configuration: Configuration,
        logger: Logger,
        observer: (any CacheStoreObserver)?,
        now: @escaping @Sendable () -> Int64
    ) {
        self.pool = pool
        self.rowCount = RowCounter(count)
        self.configuration = configuration
        self.logger = logger
        self.observer = observer
        self.now = now
        self.queue = Mutex(WriteQueue(capacity: configuration.maxPending))
    }

    public var entryCount: Int { rowCount.load() }

    private var notBefore: Int64 {
        configuration.ttlSeconds > 0 ? now() - configuration.ttlSeconds : Int64.min
    }

    public func pendingScore(_ key: CacheKey) -> CachedScore? {
        queue.withLock { $0.score(key) }
    }

    /// Queues scores for the writer. A full queue leaves the new ones out (they stay in the memory tier);
    /// the observer counts them, and the log says so once when dropping starts and once when it ends.
    public func save(_ entries: [(key: CacheKey, score: CachedScore)]) {
        queue.save(entries, tier: name, observer: observer, logger: logger)
    }

    /// Scores not persisted because the write queue was full (the store could not keep up or is failing).
    public var droppedWriteCount: Int { queue.withLock { $0.droppedTotal } }

    /// Entries queued and not yet committed.
    public var pendingCount: Int { queue.withLock { $0.count } }

    /// Degraded while the write queue drops scores or commits fail; see ``WriteQueue``.
    public var health: CacheStoreHealth { queue.withLock { $0.health } }

    public func lookup(_ keys: [CacheKey]) async throws(CacheError) -> [CachedScore?] {
        var results = [CachedScore?](repeating: nil, count: keys.count)
        var positions: [CacheKey: Int] = [:]
        positions.reserveCapacity(keys.count)
        var missing: [CacheKey] = []
        let notBefore = self.notBefore
        queue.withLock { queue in
            for (i, key) in keys.enumerated() {
                if let queued = queue.score(key), queued.storedAt >= notBefore {
                    results[i] = queued
                } else {
                    positions[key] = i
                    missing.append(key)
                }
            }
        }
        guard !missing.isEmpty else { return results }
        let missingKeys = missing
        let found: [(CacheKey, CachedScore)]
        do {
            found = try await pool.read { db in
                var found: [(CacheKey, CachedScore)] = []
                var start = 0
                while start < missingKeys.count {
                    let chunk = missingKeys[start..<min(start + 500, missingKeys.count)]
                    start += chunk.count
                    let placeholders = String(repeating: "?,", count: chunk.count - 1) + "?"
                    let statement = try db.cachedStatement(
                        sql: "SELECT key, score, stored_at FROM scores WHERE stored_at >= ? AND key IN (\(placeholders))"
                    )
                    statement.bind(notBefore, at: 1)
                    for (offset, key) in chunk.enumerated() { statement.bind(key, at: Int32(offset + 2)) }
                    try statement.forEachScore(in: db) { found.append(($0, $1)) }
                }
                return found
            }
        } catch {
            throw .query(reason: "\(error)")
        }
        for (key, score) in found {
            if let i = positions[key] { results[i] = score }
        }
        return results
    }

    // MARK: - Writer side (called by SQLiteCacheWriter)

    /// Commits everything queued so far in one transaction, with the `meta` entry count. Returns how many
    /// entries were written.
    /// - Throws: ``CacheError/write(reason:)``; the entries stay queued and are retried by the next flush.
    @discardableResult
    public func flush() async throws(CacheError) -> Int {
        // A failed flush left its entries in `flushing`; they are retried together with the new ones.
        let batch = queue.withLock { $0.take() }
        guard !batch.isEmpty else {
            finishEpisodes(queue.withLock { $0.committed() })
            return 0
        }
        let entries = Array(batch)
        do {
            let inserted = try await pool.write { db in
                try Self.upsert(entries.lazy.map { ($0.key, $0.value.score, $0.value.storedAt) }, in: db)
            }
            rowCount.add(inserted)
        } catch {
            let reason = "\(error)"
            if queue.withLock({ $0.failed(reason) }) {
                logger.warning("cache writes failing; scores stay queued and are retried", metadata: [
                    "rerank.cache.tier": "\(name)", "error.type": "\(reason)",
                ])
            }
            throw .write(reason: reason)
        }
        // Only flush() takes and commits, so after a commit `flushing` holds exactly what was committed.
        finishEpisodes(queue.withLock { $0.committed() })
        return entries.count
    }

    /// Whether SQLite gives `score` back bit for bit. A `REAL` column keeps an integral value as an integer, so
    /// -0.0 reads back as +0.0 (and a proxy would answer `0.0` where the backend said `-0.0`): such a score is not
    /// persisted, and its pair stays a miss here (exact from the memory tier and the backend).
    static func isStorable(_ score: Double) -> Bool {
        score.bitPattern != (-0.0 as Double).bitPattern
    }

    /// Inserts or replaces `rows` (key, score, stored_at) and adds the keys that were new to the `meta` entry
    /// count, in the caller's transaction; returns how many were new (a replaced key is not counted twice).
    /// Rows whose score is not ``isStorable(_:)`` are left out.
    static func upsert(_ rows: some Sequence<(CacheKey, Double, Int64)>, in db: Database) throws -> Int {
        let insert = try db.cachedStatement(sql: "INSERT OR IGNORE INTO scores (key, score, stored_at) VALUES (?, ?, ?)")
        let update = try db.cachedStatement(sql: "UPDATE scores SET score = ?, stored_at = ? WHERE key = ?")
        var inserted = 0
        for (key, score, storedAt) in rows where isStorable(score) {
            insert.bind(key, at: 1)
            insert.bind(score, at: 2)
            insert.bind(storedAt, at: 3)
            try insert.run(in: db)
            if db.changesCount == 1 {
                inserted += 1
            } else {
                update.bind(score, at: 1)
                update.bind(storedAt, at: 2)
                update.bind(key, at: 3)
                try update.run(in: db)
            }
        }
        if inserted > 0 {
            try db.execute(sql: "UPDATE meta SET value = value + ? WHERE name = 'entries'", arguments: [inserted])
        }
        return inserted
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

    /// Deletes expired rows, then the oldest rows beyond `maxEntries`, judged by the `meta` entry count and
    /// updating it in the same transaction. Returns how many were deleted.
    @discardableResult
    func sweep() async throws(CacheError) -> Int {
        let ttl = configuration.ttlSeconds
        let maxEntries = configuration.maxEntries
        let cutoff = notBefore
        do {
            let (deleted, remaining) = try await pool.write { db -> (Int, Int) in
                var count = try Int.fetchOne(db, sql: "SELECT value FROM meta WHERE name = 'entries'") ?? 0
                var deleted = 0
                if ttl > 0 {
                    try db.execute(sql: "DELETE FROM scores WHERE stored_at < ?", arguments: [cutoff])
                    deleted += db.changesCount
                    count -= db.changesCount
                }
                if maxEntries > 0, count > maxEntries {
                    try db.execute(
                        sql: "DELETE FROM scores WHERE key IN (SELECT key FROM scores ORDER BY stored_at LIMIT ?)",
                        arguments: [count - maxEntries]
                    )
                    deleted += db.changesCount
                    count -= db.changesCount
                }
                if deleted > 0 {
                    try db.execute(sql: "UPDATE meta SET value = ? WHERE name = 'entries'", arguments: [max(0, count)])
                }
                return (deleted, max(0, count))
            }
            rowCount.store(remaining)
            return deleted
        } catch {
            throw .write(reason: "\(error)")
        }
    }

    /// Closes the database; call after the writer's final flush.
    public func close() {
        do { try pool.close() } catch { logger.warning("closing the SQLite cache failed", metadata: ["error.type": "\(error)"]) }
    }
}

/// The exact row count, read from any thread; written only by the writer (flush and sweep run one at a time).
final class RowCounter: Sendable {
    private let value: Atomic<Int>
    init(_ initial: Int) { value = Atomic(initial) }
    func load() -> Int { value.load(ordering: .relaxed) }
    func add(_ n: Int) { value.add(n, ordering: .relaxed) }
    func store(_ n: Int) { value.store(n, ordering: .relaxed) }
}

extension SQLiteCacheStore {
    /// Folds the WAL into the main file (for measuring its size).
    public func checkpoint() async throws(CacheError) {
        do {
            try await pool.writeWithoutTransaction { db in _ = try db.checkpoint(.truncate) }
        } catch {
            throw .write(reason: "\(error)")
        }
    }
}
