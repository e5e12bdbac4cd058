import Foundation
import TestSupport
import Logging
import Testing

@testable import RerankCache
@testable import RerankCore

/// One contract for every JobStore: memory, SQLite (a real temp file, always), Redis (when REDIS_URL is set).
@Suite struct JobStoreTests {
    enum Kind: String, CaseIterable, Sendable { case memory, sqlite, redis }

    /// Redis only when REDIS_URL is set; ``redisStoreIsSkippedVisibly()`` says so when it is not.
    static let kinds: [Kind] = sharedRedisURL == nil ? [.memory, .sqlite] : Kind.allCases

    @Test(.enabled(if: sharedRedisURL != nil, "REDIS_URL is not set: the Redis job store is not tested (scripts/test.sh sets it)"))
    func redisStoreIsSkippedVisibly() {}

    static func store(_ kind: Kind) throws -> (any JobStore)? {
        switch kind {
        case .memory: return MemoryJobStore()
        case .sqlite:
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("jobstore-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let cache = try SQLiteCacheStore(configuration: .init(path: directory + "/scores.sqlite"), logger: Logger(label: "test"))
            return try SQLiteJobStore(cache: cache)
        case .redis:
            guard let url = sharedRedisURL else { return nil }
            let cache = RedisCacheStore(configuration: try .init(url: url, prefix: uniquePrefix(), timeout: .seconds(2)), logger: Logger(label: "test"))
            return RedisJobStore(cache: cache)
        }
    }

    static func record(_ id: String, created: Int64, status: JobStatus = .queued) -> JobRecord {
        var record = JobRecord(id: id, model: "m", createdAt: created, requests: 3, totalPairs: 9, owner: "team", namespace: nil)
        record.status = status
        return record
    }

    @Test(arguments: JobStoreTests.kinds) func aJobItsInputAndItsResultsRoundTrip(kind: Kind) async throws {
        let store = try #require(try Self.store(kind))
        let input = JobInput(bytes: Array(#"{"requests":[]}"#.utf8), isLines: false)
        var record = Self.record("a", created: 100)
        try await store.create(record, input: input)
        #expect(try await store.job("a") == record)
        #expect(try await store.input(of: "a") == input)
        #expect(try await store.job("missing") == nil)
        record.status = .running
        record.donePairs = 6
        try await store.save(results: [(2, Array("r2".utf8)), (0, Array("r0".utf8))], record: record)
        #expect(try await store.job("a") == record)
        #expect(try await store.savedPositions(of: "a") == [0, 2])
        try await store.save(results: [(1, Array("r1".utf8))], record: record)
        #expect(try await store.results(of: "a", offset: 0, limit: 10).map { String(decoding: $0, as: UTF8.self) } == ["r0", "r1", "r2"])
        #expect(try await store.results(of: "a", offset: 1, limit: 1).map { String(decoding: $0, as: UTF8.self) } == ["r1"])
    }

    @Test(arguments: JobStoreTests.kinds) func creatingAnExistingJobWritesNothingAndSaysSo(kind: Kind) async throws {
        let store = try #require(try Self.store(kind))
        let first = JobInput(bytes: Array("first".utf8), isLines: false)
        var record = Self.record("same", created: 100)
        record.inputSHA256 = "aa"
        #expect(try await store.create(record, input: first))
        var other = Self.record("same", created: 200)
        other.inputSHA256 = "bb"
        #expect(try await store.create(other, input: JobInput(bytes: Array("second".utf8), isLines: true)) == false)
        #expect(try await store.job("same") == record)
        #expect(try await store.input(of: "same") == first)
        // Created once: listed once, and still unfinished (resumable).
        #expect(try await store.recent(limit: 10).map(\.id) == ["same"])
        #expect(try await store.unfinished().map(\.id) == ["same"])
    }

    @Test(arguments: JobStoreTests.kinds) func unfinishedRecentAndSweep(kind: Kind) async throws {
        let store = try #require(try Self.store(kind))
        let input = JobInput(bytes: [], isLines: true)
        try await store.create(Self.record("old-done", created: 10, status: .succeeded), input: input)
        try await store.create(Self.record("old-running", created: 11, status: .running), input: input)
        try await store.create(Self.record("new-queued", created: 50), input: input)
        try await store.save(results: [(0, [1])], record: Self.record("old-done", created: 10, status: .succeeded))
        #expect(try await store.unfinished().map(\.id) == ["old-running", "new-queued"])
        #expect(try await store.recent(limit: 2).map(\.id) == ["new-queued", "old-running"])
        // Only finished jobs older than the cutoff go, with their results.
        #expect(try await store.sweep(finishedBefore: 20) == 1)
        #expect(try await store.job("old-done") == nil)
        #expect(try await store.results(of: "old-done", offset: 0, limit: 5).isEmpty)
        #expect(try await store.job("old-running") != nil)
        var finished = Self.record("new-queued", created: 50, status: .cancelled)
        finished.updatedAt = 60
        try await store.update(finished)
        #expect(try await store.unfinished().map(\.id) == ["old-running"])
        #expect(try await store.sweep(finishedBefore: 55) == 0)
        // A runner that has not seen the cancel cannot bring the job back.
        var stale = Self.record("new-queued", created: 50, status: .running)
        stale.donePairs = 3
        try await store.update(stale)
        try await store.save(results: [(0, [2])], record: stale)
        #expect(try await store.job("new-queued")?.status == .cancelled)
        #expect(try await store.unfinished().map(\.id) == ["old-running"])
    }

    /// A runner that has not seen its job swept (cancelled elsewhere, then `jobs.ttl` passed) writes nothing: no
    /// record and no results come back, so an idempotent retry that creates the same id afterwards starts clean
    /// instead of being answered with the phantom or inheriting the old job's results.
    @Test(arguments: JobStoreTests.kinds) func aWriteToASweptJobBringsNothingBack(kind: Kind) async throws {
        let store = try #require(try Self.store(kind))
        let input = JobInput(bytes: Array("old".utf8), isLines: false)
        var cancelled = Self.record("job-i-same", created: 10, status: .cancelled)
        cancelled.updatedAt = 10
        try await store.create(cancelled, input: input)
        #expect(try await store.sweep(finishedBefore: 20) == 1)
        let stale = Self.record("job-i-same", created: 10, status: .running)
        try await store.save(results: [(0, Array("old result".utf8))], record: stale)
        try await store.update(stale)
        #expect(try await store.job("job-i-same") == nil)
        #expect(try await store.savedPositions(of: "job-i-same").isEmpty)
        #expect(try await store.unfinished().isEmpty)
        // The same id submitted again is a new job with none of the old one's results.
        let fresh = Self.record("job-i-same", created: 30)
        #expect(try await store.create(fresh, input: JobInput(bytes: Array("new".utf8), isLines: false)))
        #expect(try await store.job("job-i-same") == fresh)
        #expect(try await store.savedPositions(of: "job-i-same").isEmpty)
        #expect(try await store.results(of: "job-i-same", offset: 0, limit: 5).isEmpty)
    }
}

/// The Redis sweep deletes a job in one script that checks it again: a job re-created under the same id (an
/// idempotent submission) after the sweep read its candidates is never deleted or dropped from the index.
@Suite(.enabled(if: sharedRedisURL != nil, "REDIS_URL is not set: start redis-server and export REDIS_URL (scripts/test.sh does)"))
struct RedisJobSweepTests {
    @Test func theSweepDeletesOnlyAJobStillFinishedAndOld() async throws {
        let store = try #require(try JobStoreTests.store(.redis) as? RedisJobStore)
        let input = JobInput(bytes: [], isLines: false)
        // Re-created and running again: kept, and still listed.
        try await store.create(JobStoreTests.record("again", created: 100), input: input)
        // Finished, but updated after the cutoff: kept.
        var recent = JobStoreTests.record("recent", created: 100, status: .succeeded)
        recent.updatedAt = 2_000
        try await store.create(recent, input: input)
        // Finished and old: gone, record and index entry together.
        try await store.create(JobStoreTests.record("old", created: 100, status: .succeeded), input: input)
        #expect(try await store.sweep(finishedBefore: 1_000) == 1)
        #expect(try await store.job("old") == nil)
        #expect(try await store.job("again") != nil)
        #expect(Set(try await store.recent(limit: 10).map(\.id)) == ["again", "recent"])
        // Nothing left to sweep.
        #expect(try await store.sweep(finishedBefore: 1_000) == 0)
    }
}
