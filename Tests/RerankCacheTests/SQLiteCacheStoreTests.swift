import Foundation
import Testing

@testable import RerankCache
@testable import RerankCore

@Suite struct SQLiteCacheStoreTests {
    @Test func queuedWritesAreVisibleBeforeAndAfterTheFlush() async throws {
        let store = try SQLiteCacheStore(configuration: .init(path: temporarySQLitePath()), logger: testLogger)
        let score = CachedScore(score: 1.0 / 3.0, storedAt: Int64(Date().timeIntervalSince1970))
        store.save([(testKey(1), score)])
        #expect(store.pendingScore(testKey(1)) == score)
        #expect(try await store.lookup([testKey(1), testKey(2)]) == [score, nil])
        #expect(try await store.flush() == 1)
        #expect(store.pendingScore(testKey(1)) == nil)
        let found = try await store.lookup([testKey(2), testKey(1)])
        #expect(found[0] == nil)
        #expect(found[1]?.score.bitPattern == (1.0 / 3.0).bitPattern)
        #expect(store.entryCount == 1)
        store.close()
    }

    /// A cached score must be the backend's, bit for bit: SQLite turns a stored -0.0 into +0.0, so it must be a miss
    /// there, never a +0.0 hit (from the writer and from an import alike).
    @Test func negativeZeroIsNeverServedAsPositiveZero() async throws {
        let store = try SQLiteCacheStore(configuration: .init(path: temporarySQLitePath()), logger: testLogger)
        let now = Int64(Date().timeIntervalSince1970)
        store.save([(testKey(1), CachedScore(score: -0.0, storedAt: now)), (testKey(2), CachedScore(score: 0.0, storedAt: now))])
        #expect(try await store.lookup([testKey(1)])[0]?.score.bitPattern == (-0.0 as Double).bitPattern)
        try await store.flush()
        #expect(try await store.importScores([ExportedScore(key: testKey(3), score: -0.0, storedAt: now)]) == 0)
        let found = try await store.lookup([testKey(1), testKey(2), testKey(3)])
        for score in [found[0], found[2]] {
            #expect(score == nil || score?.score.bitPattern == (-0.0 as Double).bitPattern, "-0.0 came back as \(String(describing: score))")
        }
        #expect(found[1]?.score.bitPattern == (0.0 as Double).bitPattern)
        #expect(store.entryCount == 1)
        store.close()
    }

    @Test func scoresSurviveReopening() async throws {
        let path = temporarySQLitePath()
        let now = Int64(Date().timeIntervalSince1970)
        do {
            let store = try SQLiteCacheStore(configuration: .init(path: path), logger: testLogger)
            store.save((0..<700).map { (testKey($0), CachedScore(score: Double($0) * 0.001, storedAt: now)) })
            try await store.flush()
            store.close()
        }
        let reopened = try SQLiteCacheStore(configuration: .init(path: path), logger: testLogger)
        #expect(reopened.entryCount == 700)
        // More keys than one IN (...) chunk.
        let found = try await reopened.lookup((0..<700).map(testKey))
        #expect(found.enumerated().allSatisfy { $1?.score == Double($0) * 0.001 })
        reopened.close()
    }

    @Test func rewritingAKeyKeepsTheCountExact() async throws {
        let store = try SQLiteCacheStore(configuration: .init(path: temporarySQLitePath()), logger: testLogger)
        store.save([(testKey(1), .init(score: 1, storedAt: 10))])
        try await store.flush()
        store.save([(testKey(1), .init(score: 1, storedAt: 20)), (testKey(2), .init(score: 2, storedAt: 20))])
        try await store.flush()
        #expect(store.entryCount == 2)
        store.close()
    }

    @Test func ttlHidesAndSweepsOldRows() async throws {
        let clock = FakeClock(1_000_000)
        let store = try SQLiteCacheStore(
            configuration: .init(path: temporarySQLitePath(), ttlSeconds: 60), logger: testLogger, now: { clock.now }
        )
        store.save([(testKey(1), .init(score: 1, storedAt: clock.now))])
        try await store.flush()
        clock.advance(30)
        store.save([(testKey(2), .init(score: 2, storedAt: clock.now))])
        try await store.flush()
        clock.advance(31)
        let found = try await store.lookup([testKey(1), testKey(2)])
        #expect(found[0] == nil)
        #expect(found[1]?.score == 2)
        #expect(try await store.sweep() == 1)
        #expect(store.entryCount == 1)
        store.close()
    }

    @Test func maxEntriesDeletesTheOldest() async throws {
        let store = try SQLiteCacheStore(configuration: .init(path: temporarySQLitePath(), maxEntries: 5), logger: testLogger)
        store.save((0..<8).map { (testKey($0), CachedScore(score: Double($0), storedAt: Int64(100 + $0))) })
        try await store.flush()
        #expect(store.entryCount == 8)
        #expect(try await store.sweep() == 3)
        #expect(store.entryCount == 5)
        let found = try await store.lookup((0..<8).map(testKey))
        #expect(found.map { $0 != nil } == [false, false, false, true, true, true, true, true])
        store.close()
    }

    @Test func theWritersFinishFlushesWhatIsQueuedAndClosesTheFile() async throws {
        let path = temporarySQLitePath()
        let store = try SQLiteCacheStore(configuration: .init(path: path), logger: testLogger)
        let writer = SQLiteCacheWriter(store: store, flushInterval: .seconds(3600), logger: testLogger)
        store.save([(testKey(9), .init(score: 9, storedAt: Int64(Date().timeIntervalSince1970)))])
        // The timer loop calls finish() once when it stops (TimerLoopTests: even when the loop was cancelled).
        await writer.finish()
        #expect(store.pendingCount == 0)
        let reopened = try SQLiteCacheStore(configuration: .init(path: path), logger: testLogger)
        #expect(try await reopened.lookup([testKey(9)])[0]?.score == 9)
        reopened.close()
    }

    @Test func aFullWriteQueueDropsNewScoresInsteadOfGrowing() async throws {
        let store = try SQLiteCacheStore(configuration: .init(path: temporarySQLitePath(), maxPending: 3), logger: testLogger)
        store.save((0..<5).map { (testKey($0), CachedScore(score: Double($0), storedAt: 1)) })
        #expect(store.pendingCount == 3)
        #expect(store.droppedWriteCount == 2)
        // Re-saving a queued key still updates it.
        store.save([(testKey(0), CachedScore(score: 9, storedAt: 2))])
        #expect(store.pendingScore(testKey(0))?.score == 9)
        try await store.flush()
        store.save([(testKey(4), CachedScore(score: 4, storedAt: 1))])
        #expect(store.pendingScore(testKey(4))?.score == 4)
        store.close()
    }

    @Test func unopenableFileIsAClearError() {
        #expect(throws: CacheError.self) {
            try SQLiteCacheStore(configuration: .init(path: "/proc/definitely/not/here.sqlite"), logger: testLogger)
        }
    }
}
