import Foundation
import GRDB
import Logging

// MARK: - Opening, and moving an unusable file aside

extension SQLiteCacheStore {
    /// A store from ``open(configuration:logger:observer:now:)``, and what it took to get it.
    public struct Opened: Sendable {
        public let store: SQLiteCacheStore
        /// Where an unusable file was moved (`<path>.corrupt-<UTC timestamp>`) before a new one was created at
        /// the path; `nil` when the file opened as it was.
        public let movedAside: String?
    }

    /// Opens the cache file; a file SQLite cannot use (not a database, corrupt, unreadable) is moved aside
    /// to `<path>.corrupt-<yyyyMMddTHHmmssZ>`, together with its `-wal` and `-shm`, an error is logged, and
    /// a new file is created in its place. A cache is only a cache: losing its contents beats not starting.
    ///
    /// Nothing is moved when the file is busy or locked (another process holds it), the disk is full or out
    /// of memory, or the path is not a file (a directory, or a parent that cannot be created): moving would
    /// not help, or would throw away a good file.
    /// ```swift
    /// let opened = try SQLiteCacheStore.open(configuration: .init(path: "data/scores.sqlite"), logger: logger)
    /// if let moved = opened.movedAside { print("started a new cache; the old file is \(moved)") }
    /// ```
    /// - Throws: ``CacheError/open(path:reason:)`` when neither the file nor a new one can be used; the
    ///   caller runs without the store.
    public static func open(
        configuration: Configuration,
        logger: Logger,
        observer: (any CacheStoreObserver)? = nil,
        now: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) }
    ) throws(CacheError) -> Opened {
        let path = configuration.path
        let first: any Error
        do {
            let opened = try openDatabase(configuration: configuration, logger: logger)
            return Opened(
                store: SQLiteCacheStore(pool: opened.pool, count: opened.count, configuration: configuration, logger: logger, observer: observer, now: now),
                movedAside: nil
            )
        } catch {
            first = error
        }
        guard isWorthMovingAside(first, path: path) else { throw .open(path: path, reason: "\(first)") }
        let target: String
        do {
            target = try moveAside(path, now: now())
        } catch {
            throw .open(path: path, reason: "\(first); moving the file aside failed too: \(error)")
        }
        logger.error("the SQLite cache file is unusable; moved it aside and starting with an empty cache", metadata: [
            "rerank.cache.path": "\(path)", "rerank.cache.moved_to": "\(target)", "error.type": "\(first)",
        ])
        do {
            let opened = try openDatabase(configuration: configuration, logger: logger)
            return Opened(
                store: SQLiteCacheStore(pool: opened.pool, count: opened.count, configuration: configuration, logger: logger, observer: observer, now: now),
                movedAside: target
            )
        } catch {
            throw .open(path: path, reason: "\(error) (a new file after moving the unusable one to \(target))")
        }
    }

    /// Whether moving the file away can fix `error`: only SQLite's own errors about a regular file at the
    /// path, and not the ones that say the file is in use or the machine is short of something.
    static func isWorthMovingAside(_ error: any Error, path: String) -> Bool {
        guard let error = error as? DatabaseError else { return false }
        let transient: [ResultCode] = [.SQLITE_BUSY, .SQLITE_LOCKED, .SQLITE_FULL, .SQLITE_NOMEM, .SQLITE_INTERRUPT, .SQLITE_ABORT]
        guard !transient.contains(error.resultCode) else { return false }
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && !isDirectory.boolValue
    }

    /// Renames `path` (and its `-wal` and `-shm`, the WAL first so that a new file never meets an old WAL)
    /// to `<path>.corrupt-<timestamp>`, with `-2`, `-3`… when that name is taken. Returns the new name.
    static func moveAside(_ path: String, now seconds: Int64) throws -> String {
        let files = FileManager.default
        let stamp = "\(path).corrupt-\(utcTimestamp(seconds))"
        var target = stamp
        var n = 1
        while files.fileExists(atPath: target) || files.fileExists(atPath: target + "-wal") {
            n += 1
            target = "\(stamp)-\(n)"
        }
        var moved: [(from: String, to: String)] = []
        do {
            for suffix in ["-wal", "-shm", ""] where files.fileExists(atPath: path + suffix) {
                try files.moveItem(atPath: path + suffix, toPath: target + suffix)
                moved.append((path + suffix, target + suffix))
            }
        } catch {
            for (from, to) in moved.reversed() { try? files.moveItem(atPath: to, toPath: from) }
            throw error
        }
        return target
    }

    /// `yyyyMMddTHHmmssZ` in UTC.
    static func utcTimestamp(_ seconds: Int64) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC") ?? calendar.timeZone
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: Date(timeIntervalSince1970: TimeInterval(seconds)))
        func pad(_ value: Int?, _ width: Int) -> String {
            let digits = String(value ?? 0)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return pad(c.year, 4) + pad(c.month, 2) + pad(c.day, 2) + "T" + pad(c.hour, 2) + pad(c.minute, 2) + pad(c.second, 2) + "Z"
    }

    // MARK: - Schema

    /// Opens the pool and creates the schema; returns the stored entry count.
    /// - Throws: whatever GRDB or the file system threw, so that ``open(configuration:logger:observer:now:)``
    ///   can tell a damaged file from a busy one.
    static func openDatabase(configuration: Configuration, logger: Logger) throws -> (pool: DatabasePool, count: Int) {
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
        let pool = try DatabasePool(path: configuration.path, configuration: config)
        do {
            let (count, counted) = try pool.write { db -> (Int, Bool) in
                try db.execute(
                    sql: """
                        CREATE TABLE IF NOT EXISTS scores (
                          key BLOB PRIMARY KEY NOT NULL,
                          score REAL NOT NULL,
                          stored_at INTEGER NOT NULL
                        ) WITHOUT ROWID;
                        CREATE INDEX IF NOT EXISTS scores_stored_at ON scores(stored_at);
                        CREATE TABLE IF NOT EXISTS meta (
                          name TEXT PRIMARY KEY NOT NULL,
                          value INTEGER NOT NULL
                        ) WITHOUT ROWID;
                        """
                )
                if let stored = try Int.fetchOne(db, sql: "SELECT value FROM meta WHERE name = 'entries'") { return (stored, false) }
                // A new file (instant) or one from a version without `meta` (counted this once).
                let count = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM scores") ?? 0
                try db.execute(sql: "INSERT INTO meta (name, value) VALUES ('entries', ?)", arguments: [count])
                return (count, count > 0)
            }
            if counted {
                logger.info("counted the SQLite cache once; the count is kept in its meta table from now on", metadata: [
                    "rerank.cache.entries": "\(count)"
                ])
            }
            return (pool, count)
        } catch {
            try? pool.close()
            throw error
        }
    }
}
