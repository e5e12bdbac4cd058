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

    struct Pending {
        /// Queued by `save`, not yet taken by a flush.
        var queued: [CacheKey: CachedScore] = [:]
        /// Taken by the flush in progress, visible until it commits.
        var flushing: [CacheKey: CachedScore] = [:]
    }

    public let name = "sqlite"
    public let configuration: Configuration
    let pool: DatabasePool
    let logger: Logger
    let now: @Sendable () -> Int64
    /// Protected by its own lock; held only to move dictionaries, never across IO.
    private let pending = Mutex(Pending())
    /// Rows in the file, kept exact by the writer from SQLite's change counts.
    let rowCount: RowCounter
    private let droppedWrites = RowCounter(0)

    /// Opens (creating if needed) the database file and its schema.
    /// - Throws: ``CacheError/open(path:reason:)``.
    public init(
        configuration: Configuration,
        logger: Logger,
        now: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) }
    ) throws(CacheError) {
        self.configuration = configuration
        self.logger = logger
        self.now = now
        do {
            let directory = URL(fileURLWithPath: configuration.path).deletingLastPathComponent()
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            var config = GRDB.Configuration()
            config.busyMode = .timeout(5)
            config.prepareDatabase { db in
                // WAL + NORMAL: commits do not fsync; a crash loses at most the last commits, never the file.
                try db.execute(sql: "PRAGMA synchronous = NORMAL")
                // A bigger page cache: with the 2 MB default most B-tree probes went through pread, which
                // dominated the flush profile.
                try db.execute(sql: "PRAGMA cache_size = -16384")
            }
            pool = try DatabasePool(path: configuration.path, configuration: config)
            let count = try pool.write { db -> Int in
                try db.execute(
                    sql: """
                        CREATE TABLE IF NOT EXISTS scores (
                          key BLOB PRIMARY KEY NOT NULL,
                          score REAL NOT NULL,
                          stored_at INTEGER NOT NULL
                        ) WITHOUT ROWID;
                        CREATE INDEX IF NOT EXISTS scores_stored_at ON scores(stored_at);
                        """
                )
                return try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM scores") ?? 0
            }
            rowCount = RowCounter(count)
        } catch {
            throw .open(path: configuration.path, reason: "\(error)")
        }
    }

    public var entryCount: Int { rowCount.load() }

    private var notBefore: Int64 {
        configuration.ttlSeconds > 0 ? now() - configuration.ttlSeconds : Int64.min
    }

    public func pendingScore(_ key: CacheKey) -> CachedScore? {
        pending.withLock { $0.queued[key] ?? $0.flushing[key] }
    }

    public func save(_ entries: [(key: CacheKey, score: CachedScore)]) {
        let dropped = pending.withLock { pending -> Int in
            var dropped = 0
            for entry in entries {
                if pending.queued.count + pending.flushing.count >= configuration.maxPending, pending.queued[entry.key] == nil {
                    dropped += 1
                } else {
                    pending.queued[entry.key] = entry.score
                }
            }
            return dropped
        }
        if dropped > 0 {
            droppedWrites.add(dropped)
            logger.warning("cache write queue is full; scores not persisted", metadata: ["rerank.cache.dropped": "\(dropped)"])
        }
    }

    /// Scores not persisted because the write queue was full (the store could not keep up or is failing).
    public var droppedWriteCount: Int { droppedWrites.load() }

    /// Entries queued and not yet committed.
    public var pendingCount: Int { pending.withLock { $0.queued.count + $0.flushing.count } }

    public func lookup(_ keys: [CacheKey]) async throws(CacheError) -> [CachedScore?] {
        var results = [CachedScore?](repeating: nil, count: keys.count)
        var positions: [CacheKey: Int] = [:]
        positions.reserveCapacity(keys.count)
        var missing: [CacheKey] = []
        let notBefore = self.notBefore
        pending.withLock { pending in
            for (i, key) in keys.enumerated() {
                if let queued = pending.queued[key] ?? pending.flushing[key], queued.storedAt >= notBefore {
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

    /// Commits everything queued so far in one transaction. Returns how many entries were written.
    @discardableResult
    public func flush() async throws(CacheError) -> Int {
        let batch: [CacheKey: CachedScore] = pending.withLock { pending in
            // A failed flush left its entries in `flushing`; retry them together with the new ones.
            pending.flushing.merge(pending.queued) { _, new in new }
            pending.queued = [:]
            return pending.flushing
        }
        guard !batch.isEmpty else { return 0 }
        let entries = Array(batch)
        do {
            let inserted = try await pool.write { db -> Int in
                let insert = try db.cachedStatement(
                    sql: "INSERT OR IGNORE INTO scores (key, score, stored_at) VALUES (?, ?, ?)"
                )
                let update = try db.cachedStatement(sql: "UPDATE scores SET score = ?, stored_at = ? WHERE key = ?")
                var inserted = 0
                for (key, value) in entries {
                    insert.bind(key, at: 1)
                    insert.bind(value.score, at: 2)
                    insert.bind(value.storedAt, at: 3)
                    try insert.run(in: db)
                    if db.changesCount == 1 {
                        inserted += 1
                    } else {
                        update.bind(value.score, at: 1)
                        update.bind(value.storedAt, at: 2)
                        update.bind(key, at: 3)
                        try update.run(in: db)
                    }
                }
                return inserted
            }
            rowCount.add(inserted)
        } catch {
            throw .write(reason: "\(error)")
        }
        // Only flush() touches `flushing`, so after a commit it holds exactly what was committed.
        pending.withLock { $0.flushing = [:] }
        return entries.count
    }

    /// Deletes expired rows, then the oldest rows beyond `maxEntries`. Returns how many were deleted.
    @discardableResult
    func sweep() async throws(CacheError) -> Int {
        let ttl = configuration.ttlSeconds
        let maxEntries = configuration.maxEntries
        let cutoff = notBefore
        let rowCount = self.rowCount
        do {
            let deleted = try await pool.write { db -> Int in
                var deleted = 0
                if ttl > 0 {
                    try db.execute(sql: "DELETE FROM scores WHERE stored_at < ?", arguments: [cutoff])
                    deleted += db.changesCount
                }
                let count = rowCount.load() - deleted
                if maxEntries > 0, count > maxEntries {
                    try db.execute(
                        sql: "DELETE FROM scores WHERE key IN (SELECT key FROM scores ORDER BY stored_at LIMIT ?)",
                        arguments: [count - maxEntries]
                    )
                    deleted += db.changesCount
                }
                return deleted
            }
            if deleted > 0 { rowCount.subtract(deleted) }
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

/// The exact row count, shared with GRDB's write closures (Atomic itself cannot be captured).
final class RowCounter: Sendable {
    private let value: Atomic<Int>
    init(_ initial: Int) { value = Atomic(initial) }
    func load() -> Int { value.load(ordering: .relaxed) }
    func add(_ n: Int) { value.add(n, ordering: .relaxed) }
    func subtract(_ n: Int) { value.subtract(n, ordering: .relaxed) }
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
