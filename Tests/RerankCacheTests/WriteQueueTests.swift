import Testing

@testable import RerankCache
@testable import RerankCore

/// The write queue's episodes, without a database or a clock.
@Suite struct WriteQueueTests {
    private func entries(_ range: Range<Int>) -> [(key: CacheKey, score: CachedScore)] {
        range.map { (testKey($0), CachedScore(score: Double($0), storedAt: 1)) }
    }

    @Test func droppingStartsOnceAndEndsAfterACleanInterval() {
        var queue = SQLiteCacheStore.WriteQueue(capacity: 2)
        #expect(queue.enqueue(entries(0..<1)) == .init(dropped: 0, startedDropping: false))
        #expect(queue.enqueue(entries(1..<4)) == .init(dropped: 2, startedDropping: true))
        #expect(queue.enqueue(entries(4..<5)) == .init(dropped: 1, startedDropping: false))
        // A key already queued is updated even when full.
        #expect(queue.enqueue([(testKey(0), CachedScore(score: 9, storedAt: 2))]).dropped == 0)
        #expect(queue.score(testKey(0))?.score == 9)
        #expect(queue.take().count == 2)
        #expect(queue.committed() == .init(stoppedDropping: nil, recovered: false))
        #expect(queue.health != .ok)
        #expect(queue.take().isEmpty)
        #expect(queue.committed() == .init(stoppedDropping: 3, recovered: false))
        #expect(queue.health == .ok)
        #expect(queue.droppedTotal == 3)
    }

    @Test func aKeySavedAgainWhileItsFlushRunsIsCountedOnceAndDoesNotFillTheQueue() {
        var queue = SQLiteCacheStore.WriteQueue(capacity: 3)
        _ = queue.enqueue(entries(0..<2))
        #expect(queue.take().count == 2)
        // Both keys saved again (a newer score) while their flush runs: still two keys waiting, room for one more.
        #expect(queue.enqueue(entries(0..<2)).dropped == 0)
        #expect(queue.count == 2)
        #expect(queue.enqueue(entries(2..<3)).dropped == 0)
        #expect(queue.count == 3)
        #expect(queue.enqueue(entries(3..<4)).dropped == 1)
        _ = queue.committed()
        #expect(queue.count == 3)
        #expect(queue.take().count == 3)
        _ = queue.committed()
        #expect(queue.count == 0)
    }

    @Test func aFailedBatchIsRetriedWithTheNewOnesAndRecoveryIsReportedOnce() {
        var queue = SQLiteCacheStore.WriteQueue(capacity: 10)
        _ = queue.enqueue(entries(0..<2))
        #expect(queue.take().count == 2)
        let started = queue.failed("disk I/O error")
        #expect(started)
        #expect(queue.score(testKey(1)) != nil)
        _ = queue.enqueue(entries(2..<3))
        #expect(queue.take().count == 3)
        let startedAgain = queue.failed("disk I/O error")
        #expect(!startedAgain)
        #expect(queue.health == .degraded(reason: "cache writes failing: disk I/O error"))
        #expect(queue.take().count == 3)
        #expect(queue.committed() == .init(stoppedDropping: nil, recovered: true))
        #expect(queue.count == 0)
        #expect(queue.committed().recovered == false)
    }
}
