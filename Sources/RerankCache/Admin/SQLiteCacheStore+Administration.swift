import Foundation
import GRDB
import RerankCore

/// A model's rows are the primary-key range `tag‖00…00 … tag‖ff…ff` of the `WITHOUT ROWID` table, so counting,
/// deleting and exporting them walks an index range, never the whole table.
extension SQLiteCacheStore: CacheAdministration {
    /// Rows deleted per transaction by ``purge(tag:)``, so a running proxy's writer never waits long.
    static let purgeBatch = 5_000
    /// Rows per ``exportPage(tag:cursor:)`` page.
    static let exportPageSize = 1_000

    public func stats(tags: [UInt64]) async throws(CacheError) -> CacheAdminStats {
        do {
            return try await pool.read { db in
                let entries = try Int.fetchOne(db, sql: "SELECT value FROM meta WHERE name = 'entries'") ?? 0
                var perTag: [UInt64: Int] = [:]
                for tag in tags {
                    let (low, high) = CacheKey.range(of: tag)
                    perTag[tag] = try Int.fetchOne(
                        db, sql: "SELECT COUNT(*) FROM scores WHERE key BETWEEN ? AND ?", arguments: [Data(low), Data(high)]
                    ) ?? 0
                }
                let pages = try Int64.fetchOne(db, sql: "PRAGMA page_count") ?? 0
                let pageSize = try Int64.fetchOne(db, sql: "PRAGMA page_size") ?? 0
                return CacheAdminStats(entries: entries, perTag: perTag, otherEntries: nil, bytes: pages * pageSize, bytesScope: "file")
            }
        } catch {
            throw .query(reason: "\(error)")
        }
    }

    /// Deletes the tag's rows in transactions of ``purgeBatch`` rows, each lowering the `meta` entry count by
    /// exactly the rows it deleted (a running proxy's writer adds to the same row with `value + ?`).
    public func purge(tag: UInt64) async throws(CacheError) -> Int {
        let (low, high) = CacheKey.range(of: tag)
        let batch = Self.purgeBatch
        var total = 0
        while true {
            let deleted: Int
            do {
                deleted = try await pool.write { db -> Int in
                    try db.execute(
                        sql: "DELETE FROM scores WHERE key IN (SELECT key FROM scores WHERE key BETWEEN ? AND ? LIMIT ?)",
                        arguments: [Data(low), Data(high), batch]
                    )
                    let deleted = db.changesCount
                    if deleted > 0 {
                        try db.execute(sql: "UPDATE meta SET value = MAX(0, value - ?) WHERE name = 'entries'", arguments: [deleted])
                    }
                    return deleted
                }
            } catch {
                throw .write(reason: "\(error) (after deleting \(total) rows)")
            }
            rowCount.add(-deleted)
            total += deleted
            if deleted < batch { return total }
        }
    }

    /// Rows in key order from after `cursor` (the hex of the last key of the previous page); expired rows
    /// (older than the TTL, which lookups ignore) are left out.
    public func exportPage(tag: UInt64?, cursor: String) async throws(CacheError) -> CacheExportPage {
        let (low, high) = tag.map { CacheKey.range(of: $0) } ?? ([UInt8](repeating: 0, count: 32), [UInt8](repeating: 0xff, count: 32))
        let after = cursor.isEmpty ? nil : CacheKey(hex: cursor)
        guard cursor.isEmpty || after != nil else { throw .query(reason: "bad export cursor \(cursor)") }
        let notBefore = configuration.ttlSeconds > 0 ? now() - configuration.ttlSeconds : Int64.min
        let limit = Self.exportPageSize
        do {
            let entries = try await pool.read { db -> [ExportedScore] in
                var arguments: StatementArguments = [Data(low), Data(high), notBefore]
                var sql = "SELECT key, score, stored_at FROM scores WHERE key BETWEEN ? AND ? AND stored_at >= ?"
                if let after {
                    sql += " AND key > ?"
                    arguments += [Data(after.bytes)]
                }
                sql += " ORDER BY key LIMIT \(limit)"
                let statement = try db.makeStatement(sql: sql)
                try statement.setArguments(arguments)
                var entries: [ExportedScore] = []
                entries.reserveCapacity(limit)
                try statement.forEachScore(in: db) { entries.append(ExportedScore(key: $0, score: $1.score, storedAt: $1.storedAt)) }
                return entries
            }
            let next = entries.count < limit ? nil : entries.last.map { $0.key.description }
            return CacheExportPage(entries: entries, next: next)
        } catch {
            throw .query(reason: "\(error)")
        }
    }

    /// Inserts or replaces in one transaction; the `meta` count grows only by keys that were not there yet. Scores
    /// SQLite cannot give back exactly (-0.0, ``SQLiteCacheStore/isStorable(_:)``) are skipped, like expired ones.
    public func importScores(_ entries: [ExportedScore]) async throws(CacheError) -> Int {
        let now = self.now()
        let notBefore = configuration.ttlSeconds > 0 ? now - configuration.ttlSeconds : Int64.min
        let live = entries.compactMap { entry -> (CacheKey, Double, Int64)? in
            // Never later than now: a time from a clock ahead of this one would keep the row past the TTL.
            let storedAt = min(entry.storedAt ?? now, now)
            return storedAt >= notBefore && Self.isStorable(entry.score) ? (entry.key, entry.score, storedAt) : nil
        }
        guard !live.isEmpty else { return 0 }
        do {
            let inserted = try await pool.write { db in try Self.upsert(live, in: db) }
            rowCount.add(inserted)
        } catch {
            throw .write(reason: "\(error)")
        }
        return live.count
    }
}
