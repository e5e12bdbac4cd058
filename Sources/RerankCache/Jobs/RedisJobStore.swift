import Foundation
import RerankCore

/// Jobs in Redis beside the score cache, on its connection pool (hiredis on `NIOThreadPool`), so every replica
/// sharing the Redis sees every job and a restarted proxy resumes them.
///
/// Keys, under the cache's prefix: `job:<id>` a hash (`record` JSON, `input`, `lines`, `finished`), `job:<id>:r` a
/// hash of result bodies by request position, `jobs` a sorted set of ids by creation time, `jobs:open` the set of
/// unfinished ids, `job:<id>:owner` the runner holding it (``claim(_:owner:seconds:)``), so one replica runs a job
/// at a time and another takes it over when that one's claim expires. Results are read by position (`HMGET`), so a page from `offset` is positions `offset…`.
public final class RedisJobStore: JobStore {
    let pool: RedisConnectionPool
    let prefix: String

    public init(cache: RedisCacheStore) {
        pool = cache.pool
        prefix = cache.configuration.prefix
    }

    public var isDurable: Bool { true }

    private func key(_ suffix: String) -> [UInt8] { Array((prefix + suffix).utf8) }
    private func jobKey(_ id: String) -> [UInt8] { key("job:" + id) }
    private func resultsKey(_ id: String) -> [UInt8] { key("job:" + id + ":r") }
    private static func text(_ value: some CustomStringConvertible) -> [UInt8] { Array(value.description.utf8) }

    private func run(_ commands: [[[UInt8]]]) async throws(CacheError) -> [RedisReply] {
        let replies = try await pool.withConnection { handle in try handle.pipeline(commands) }
        for reply in replies {
            if case .error(let message) = reply { throw CacheError.write(reason: "redis: \(message)") }
        }
        return replies
    }

    /// Writes the record unless the job is gone (swept) or the stored one is finished and this one is not (a
    /// cancel wins), and keeps `jobs:open` in step, in one script so no other write lands between the check and the set.
    private static let updateScript = Array("""
        if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
        if redis.call('HGET', KEYS[1], 'finished') == '1' and ARGV[2] == '0' then return 0 end
        redis.call('HSET', KEYS[1], 'record', ARGV[1], 'finished', ARGV[2])
        if ARGV[2] == '1' then redis.call('SREM', KEYS[2], ARGV[3]) else redis.call('SADD', KEYS[2], ARGV[3]) end
        return 1
        """.utf8)

    /// Writes results (ARGV: position, body, …) unless the job is gone: a runner that has not seen its job swept
    /// must not leave results a later job with the same id (an idempotent submission) would inherit.
    private static let resultsScript = Array("""
        if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
        for i = 1, #ARGV, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
        return 1
        """.utf8)

    /// Creates the job (record, input, `jobs:open`, the `jobs` index) unless its key exists, in one script: two
    /// replicas taking the same idempotent submission create it once.
    private static let createScript = Array("""
        if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
        redis.call('HSET', KEYS[1], 'record', ARGV[1], 'finished', ARGV[2], 'input', ARGV[3], 'lines', ARGV[4])
        if ARGV[2] == '0' then redis.call('SADD', KEYS[2], ARGV[5]) end
        redis.call('ZADD', KEYS[3], ARGV[6], ARGV[5])
        return 1
        """.utf8)

    private static func encode(_ job: JobRecord) throws(CacheError) -> [UInt8] {
        do {
            return [UInt8](try JSONEncoder().encode(job))
        } catch {
            throw .write(reason: "\(error)")
        }
    }

    private func recordCommands(_ job: JobRecord) throws(CacheError) -> [[[UInt8]]] {
        [[
            Self.text("EVAL"), Self.updateScript, Self.text(2), jobKey(job.id), key("jobs:open"), try Self.encode(job),
            Self.text(job.status.isFinished ? 1 : 0), Self.text(job.id),
        ]]
    }

    @discardableResult
    public func create(_ job: JobRecord, input: JobInput) async throws(CacheError) -> Bool {
        let replies = try await run([[
            Self.text("EVAL"), Self.createScript, Self.text(3), jobKey(job.id), key("jobs:open"), key("jobs"), try Self.encode(job),
            Self.text(job.status.isFinished ? 1 : 0), input.bytes, Self.text(input.isLines ? 1 : 0), Self.text(job.id), Self.text(job.createdAt),
        ]])
        guard case .integer(let created) = replies.first else { throw .write(reason: "redis: unexpected reply to the job create script") }
        return created == 1
    }

    public func update(_ job: JobRecord) async throws(CacheError) {
        _ = try await run(try recordCommands(job))
    }

    public func job(_ id: String) async throws(CacheError) -> JobRecord? {
        let replies = try await run([[Self.text("HGET"), jobKey(id), Self.text("record")]])
        guard case .string(let bytes) = replies.first else { return nil }
        return try Self.decode(bytes)
    }

    private static func decode(_ bytes: [UInt8]) throws(CacheError) -> JobRecord {
        do {
            return try JSONDecoder().decode(JobRecord.self, from: Data(bytes))
        } catch {
            throw .query(reason: "a stored job does not decode: \(error)")
        }
    }

    public func input(of id: String) async throws(CacheError) -> JobInput? {
        let replies = try await run([[Self.text("HMGET"), jobKey(id), Self.text("input"), Self.text("lines")]])
        guard case .array(let fields) = replies.first, fields.count == 2, case .string(let bytes) = fields[0] else { return nil }
        return JobInput(bytes: bytes, isLines: fields[1] == .string(Self.text(1)))
    }

    public func save(results: [(index: Int, body: [UInt8])], record: JobRecord) async throws(CacheError) {
        var commands: [[[UInt8]]] = []
        if !results.isEmpty {
            var command = [Self.text("EVAL"), Self.resultsScript, Self.text(2), jobKey(record.id), resultsKey(record.id)]
            for result in results {
                command.append(Self.text(result.index))
                command.append(result.body)
            }
            commands.append(command)
        }
        commands += try recordCommands(record)
        _ = try await run(commands)
    }

    public func savedPositions(of id: String) async throws(CacheError) -> Set<Int> {
        let replies = try await run([[Self.text("HKEYS"), resultsKey(id)]])
        guard case .array(let keys) = replies.first else { return [] }
        return Set(keys.compactMap { reply in
            guard case .string(let bytes) = reply else { return nil }
            return Int(String(decoding: bytes, as: UTF8.self))
        })
    }

    public func results(of id: String, offset: Int, limit: Int) async throws(CacheError) -> [[UInt8]] {
        guard limit > 0 else { return [] }
        let fields = (max(0, offset)..<(max(0, offset) + limit)).map { Self.text($0) }
        let replies = try await run([[Self.text("HMGET"), resultsKey(id)] + fields])
        guard case .array(let values) = replies.first else { return [] }
        return values.compactMap { reply in
            guard case .string(let bytes) = reply else { return nil }
            return bytes
        }
    }

    public func recent(limit: Int) async throws(CacheError) -> [JobRecord] {
        let replies = try await run([[Self.text("ZREVRANGE"), key("jobs"), Self.text(0), Self.text(max(0, limit) - 1)]])
        return try await records(ids(replies.first))
    }

    public func unfinished() async throws(CacheError) -> [JobRecord] {
        let replies = try await run([[Self.text("SMEMBERS"), key("jobs:open")]])
        return try await records(ids(replies.first)).filter { !$0.status.isFinished }.sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }
    }

    private func ids(_ reply: RedisReply?) -> [String] {
        guard case .array(let members) = reply else { return [] }
        return members.compactMap { member in
            guard case .string(let bytes) = member else { return nil }
            return String(decoding: bytes, as: UTF8.self)
        }
    }

    private func records(_ ids: [String]) async throws(CacheError) -> [JobRecord] {
        guard !ids.isEmpty else { return [] }
        let replies = try await run(ids.map { [Self.text("HGET"), jobKey($0), Self.text("record")] })
        var records: [JobRecord] = []
        for reply in replies {
            guard case .string(let bytes) = reply else { continue }
            records.append(try Self.decode(bytes))
        }
        return records
    }

    /// `SET job:<id>:owner <owner> NX EX seconds`, or `EXPIRE` when `owner` already holds it.
    public func claim(_ id: String, owner: String, seconds: Int) async throws(CacheError) -> Bool {
        let ownerKey = key("job:" + id + ":owner")
        let replies = try await run([
            [Self.text("SET"), ownerKey, Self.text(owner), Self.text("NX"), Self.text("EX"), Self.text(max(1, seconds))],
            [Self.text("GET"), ownerKey],
        ])
        guard replies.count == 2, replies[1] == .string(Self.text(owner)) else { return false }
        if replies[0] == .null { _ = try await run([[Self.text("EXPIRE"), ownerKey, Self.text(max(1, seconds))]]) }
        return true
    }

    /// Deletes the claim only while `owner` holds it, in one step (the leases' release script): a claim that expired
    /// and was taken by another runner stays.
    public func release(_ id: String, owner: String) async {
        _ = try? await run([[Self.text("EVAL"), RedisPairLeases.releaseScript, Self.text(1), key("job:" + id + ":owner"), Self.text(owner)]])
    }

    public func sweep(finishedBefore cutoff: Int64) async throws(CacheError) -> Int {
        // Created before the cutoff is necessary (updated ≥ created); the script decides the rest, job by job.
        let replies = try await run([[Self.text("ZRANGEBYSCORE"), key("jobs"), Self.text("-inf"), Self.text("(\(cutoff)")]])
        let candidates = ids(replies.first)
        guard !candidates.isEmpty else { return 0 }
        let swept = try await run(candidates.map { sweepCommand($0, cutoff: cutoff) })
        return swept.count { $0 == .integer(1) }
    }

    /// Deletes job `id` only if it is finished and last updated before `cutoff` when the script runs, with its
    /// results, claim and index entry: a job re-created under the same id (an idempotent submission) after the
    /// candidates were listed is unfinished, and stays, in the `jobs` index too.
    private static let sweepScript = Array("""
        if redis.call('HGET', KEYS[1], 'finished') ~= '1' then return 0 end
        local record = cjson.decode(redis.call('HGET', KEYS[1], 'record'))
        if tonumber(record['updatedAt']) >= tonumber(ARGV[2]) then return 0 end
        redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
        redis.call('ZREM', KEYS[4], ARGV[1])
        return 1
        """.utf8)

    private func sweepCommand(_ id: String, cutoff: Int64) -> [[UInt8]] {
        [
            Self.text("EVAL"), Self.sweepScript, Self.text(4), jobKey(id), resultsKey(id), key("job:" + id + ":owner"), key("jobs"),
            Self.text(id), Self.text(cutoff),
        ]
    }
}
