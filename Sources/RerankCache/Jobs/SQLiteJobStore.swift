import Foundation
import GRDB
import RerankCore

/// Jobs in two tables of the score cache's SQLite file (`rerank_jobs`, `rerank_job_results`), written through
/// the same GRDB pool: GRDB runs every statement on its own queues, never on a concurrency thread.
///
/// ```swift
/// let jobs = try SQLiteJobStore(cache: sqliteStore)
/// ```
/// A job's record is one JSON column (``JobRecord`` is small); its input and each request's rendered result are
/// blobs, so a million-pair job's results are read back a page at a time.
public final class SQLiteJobStore: JobStore {
    let pool: DatabasePool

    /// Creates the tables if they are missing (at start-up, before the server takes requests).
    /// - Throws: ``CacheError/open(path:reason:)``.
    public init(cache: SQLiteCacheStore) throws(CacheError) {
        pool = cache.pool
        do {
            try pool.write { db in
                try db.execute(
                    sql: """
                        CREATE TABLE IF NOT EXISTS rerank_jobs (
                            id TEXT PRIMARY KEY NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
                            finished INTEGER NOT NULL, record BLOB NOT NULL, input BLOB NOT NULL, input_lines INTEGER NOT NULL);
                        CREATE INDEX IF NOT EXISTS rerank_jobs_created ON rerank_jobs (created_at);
                        CREATE TABLE IF NOT EXISTS rerank_job_results (
                            job_id TEXT NOT NULL, idx INTEGER NOT NULL, body BLOB NOT NULL, PRIMARY KEY (job_id, idx)) WITHOUT ROWID;
                        """
                )
            }
        } catch {
            throw .open(path: cache.configuration.path, reason: "cannot create the job tables: \(error)")
        }
    }

    public var isDurable: Bool { true }

    private static func encode(_ job: JobRecord) throws -> Data { try JSONEncoder().encode(job) }
    private static func decode(_ data: Data) throws -> JobRecord { try JSONDecoder().decode(JobRecord.self, from: data) }

    @discardableResult
    public func create(_ job: JobRecord, input: JobInput) async throws(CacheError) -> Bool {
        do {
            let record = try Self.encode(job)
            return try await pool.write { db in
                try db.execute(
                    sql: """
                        INSERT OR IGNORE INTO rerank_jobs (id, created_at, updated_at, finished, record, input, input_lines)
                        VALUES (?, ?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [job.id, job.createdAt, job.updatedAt, job.status.isFinished, record, Data(input.bytes), input.isLines]
                )
                return db.changesCount > 0
            }
        } catch {
            throw .write(reason: "\(error)")
        }
    }

    public func update(_ job: JobRecord) async throws(CacheError) {
        do {
            let record = try Self.encode(job)
            try await pool.write { db in try Self.update(db, job, record) }
        } catch {
            throw .write(reason: "\(error)")
        }
    }

    private static func update(_ db: Database, _ job: JobRecord, _ record: Data) throws {
        try db.execute(
            sql: "UPDATE rerank_jobs SET updated_at = ?, finished = ?, record = ? WHERE id = ? AND (finished = 0 OR ? = 1)",
            arguments: [job.updatedAt, job.status.isFinished, record, job.id, job.status.isFinished]
        )
    }

    public func job(_ id: String) async throws(CacheError) -> JobRecord? {
        do {
            let data = try await pool.read { db in try Data.fetchOne(db, sql: "SELECT record FROM rerank_jobs WHERE id = ?", arguments: [id]) }
            return try data.map(Self.decode)
        } catch {
            throw .query(reason: "\(error)")
        }
    }

    public func input(of id: String) async throws(CacheError) -> JobInput? {
        do {
            return try await pool.read { db in
                guard let row = try Row.fetchOne(db, sql: "SELECT input, input_lines FROM rerank_jobs WHERE id = ?", arguments: [id]) else {
                    return nil
                }
                let bytes: Data = row[0]
                let lines: Bool = row[1]
                return JobInput(bytes: [UInt8](bytes), isLines: lines)
            }
        } catch {
            throw .query(reason: "\(error)")
        }
    }

    public func save(results: [(index: Int, body: [UInt8])], record job: JobRecord) async throws(CacheError) {
        do {
            let record = try Self.encode(job)
            try await pool.write { db in
                // A job swept under a runner that has not seen it: its results must not wait for a later job with its id.
                guard try Bool.fetchOne(db, sql: "SELECT 1 FROM rerank_jobs WHERE id = ?", arguments: [job.id]) != nil else { return }
                let statement = try db.cachedStatement(sql: "INSERT OR REPLACE INTO rerank_job_results (job_id, idx, body) VALUES (?, ?, ?)")
                for result in results {
                    try statement.execute(arguments: [job.id, result.index, Data(result.body)])
                }
                try Self.update(db, job, record)
            }
        } catch {
            throw .write(reason: "\(error)")
        }
    }

    public func savedPositions(of id: String) async throws(CacheError) -> Set<Int> {
        do {
            return Set(try await pool.read { db in try Int.fetchAll(db, sql: "SELECT idx FROM rerank_job_results WHERE job_id = ?", arguments: [id]) })
        } catch {
            throw .query(reason: "\(error)")
        }
    }

    public func results(of id: String, offset: Int, limit: Int) async throws(CacheError) -> [[UInt8]] {
        do {
            return try await pool.read { db in
                try Data.fetchAll(
                    db, sql: "SELECT body FROM rerank_job_results WHERE job_id = ? ORDER BY idx LIMIT ? OFFSET ?",
                    arguments: [id, max(0, limit), max(0, offset)]
                ).map { [UInt8]($0) }
            }
        } catch {
            throw .query(reason: "\(error)")
        }
    }

    public func recent(limit: Int) async throws(CacheError) -> [JobRecord] {
        try await records(sql: "SELECT record FROM rerank_jobs ORDER BY created_at DESC, id DESC LIMIT ?", arguments: [max(0, limit)])
    }

    public func unfinished() async throws(CacheError) -> [JobRecord] {
        try await records(sql: "SELECT record FROM rerank_jobs WHERE finished = 0 ORDER BY created_at, id", arguments: [])
    }

    private func records(sql: String, arguments: StatementArguments) async throws(CacheError) -> [JobRecord] {
        do {
            return try await pool.read { db in try Data.fetchAll(db, sql: sql, arguments: arguments) }.map(Self.decode)
        } catch {
            throw .query(reason: "\(error)")
        }
    }

    public func sweep(finishedBefore cutoff: Int64) async throws(CacheError) -> Int {
        do {
            return try await pool.write { db in
                try db.execute(
                    sql: """
                        DELETE FROM rerank_job_results WHERE job_id IN (SELECT id FROM rerank_jobs WHERE finished = 1 AND updated_at < ?);
                        DELETE FROM rerank_jobs WHERE finished = 1 AND updated_at < ?;
                        """,
                    arguments: [cutoff, cutoff]
                )
                return db.changesCount
            }
        } catch {
            throw .write(reason: "\(error)")
        }
    }
}
