import Testing

@testable import RerankBackends

/// When misses of different requests share a call (`batch_window`): the decisions alone, time passed in.
@Suite struct BatchAssemblerTests {
    typealias Assembler = BatchAssembler<String>
    let ms = Duration.milliseconds(1)

    @Test func withABackendIdleAnEntryGoesAtOnce() {
        var batches = Assembler(window: .milliseconds(2), maxBatch: 8)
        let plan = batches.enqueue(id: 1, group: "g", pairs: 3, now: .zero, healthy: 2)
        #expect(plan.dispatched.map(\.entries) == [[1]])
        #expect(plan.expires == nil)
        // The second backend is idle too.
        #expect(batches.enqueue(id: 2, group: "g", pairs: 1, now: .zero, healthy: 2).dispatched.map(\.entries) == [[2]])
        #expect(batches.running == 2)
    }

    @Test func withEveryBackendBusyEntriesShareABatchUntilTheWindowEnds() {
        var batches = Assembler(window: .milliseconds(2), maxBatch: 8)
        _ = batches.enqueue(id: 0, group: "g", pairs: 1, now: .zero, healthy: 1)
        _ = batches.seal(0)   // the one backend is busy with it
        let first = batches.enqueue(id: 1, group: "g", pairs: 2, now: ms, healthy: 1)
        #expect(first.dispatched.isEmpty)
        #expect(first.expires == ms * 3)
        let second = batches.enqueue(id: 2, group: "g", pairs: 2, now: ms * 2, healthy: 1)
        #expect(second.dispatched.isEmpty)
        #expect(second.expires == nil)   // joined the open batch, whose window started with entry 1
        #expect(batches.pendingPairs == 4)
        #expect(batches.expire(now: ms * 2, healthy: 1).isEmpty)
        let due = batches.expire(now: ms * 3, healthy: 1)
        #expect(due.map(\.entries) == [[1, 2]])
        #expect(due.map(\.pairs) == [4])
        #expect(batches.pendingPairs == 0)
    }

    @Test func aFullBatchGoesBeforeItsWindowEnds() {
        var batches = Assembler(window: .seconds(1), maxBatch: 4)
        _ = batches.enqueue(id: 0, group: "g", pairs: 1, now: .zero, healthy: 1)
        _ = batches.seal(0)
        #expect(batches.enqueue(id: 1, group: "g", pairs: 2, now: .zero, healthy: 1).dispatched.isEmpty)
        #expect(batches.enqueue(id: 2, group: "g", pairs: 2, now: .zero, healthy: 1).dispatched.map(\.entries) == [[1, 2]])
    }

    @Test func anEntryThatDoesNotFitSendsTheOpenBatchAndStartsTheNext() {
        var batches = Assembler(window: .seconds(1), maxBatch: 4)
        _ = batches.enqueue(id: 0, group: "g", pairs: 1, now: .zero, healthy: 1)
        _ = batches.seal(0)
        _ = batches.enqueue(id: 1, group: "g", pairs: 3, now: .zero, healthy: 1)
        let plan = batches.enqueue(id: 2, group: "g", pairs: 2, now: ms, healthy: 1)
        #expect(plan.dispatched.map(\.entries) == [[1]])
        #expect(plan.expires == ms + .seconds(1))
        #expect(batches.pendingPairs == 2)
    }

    @Test func entriesOfDifferentGroupsNeverShare() {
        var batches = Assembler(window: .milliseconds(2), maxBatch: 8)
        _ = batches.enqueue(id: 0, group: "busy", pairs: 1, now: .zero, healthy: 1)
        _ = batches.seal(0)
        _ = batches.enqueue(id: 1, group: "q1", pairs: 1, now: .zero, healthy: 1)
        _ = batches.enqueue(id: 2, group: "q2", pairs: 1, now: .zero, healthy: 1)
        _ = batches.enqueue(id: 3, group: "q1", pairs: 1, now: .zero, healthy: 1)
        let due = batches.expire(now: ms * 2, healthy: 1)
        #expect(due.map(\.entries) == [[1, 3], [2]])
    }

    @Test func whenABatchFinishesTheIdleBackendTakesTheOldestOpenBatch() {
        var batches = Assembler(window: .seconds(1), maxBatch: 8)
        let busy = batches.enqueue(id: 0, group: "g", pairs: 1, now: .zero, healthy: 1).dispatched[0]
        _ = batches.seal(busy.id)
        _ = batches.enqueue(id: 1, group: "a", pairs: 1, now: .zero, healthy: 1)
        _ = batches.enqueue(id: 2, group: "b", pairs: 1, now: ms, healthy: 1)
        let next = batches.finished(busy.id, healthy: 1)
        #expect(next.map(\.entries) == [[1]])
        #expect(batches.running == 1)
        // With no healthy backend nothing is idle: batches wait for their window.
        #expect(batches.finished(next[0].id, healthy: 0).isEmpty)
        #expect(batches.expire(now: ms + .seconds(1), healthy: 0).map(\.entries) == [[2]])
    }

    @Test func aDispatchedBatchWaitingForASlotTakesMoreEntriesUntilSealed() {
        var batches = Assembler(window: .milliseconds(2), maxBatch: 4)
        let waiting = batches.enqueue(id: 0, group: "g", pairs: 2, now: .zero, healthy: 1).dispatched[0]
        let joined = batches.enqueue(id: 1, group: "g", pairs: 2, now: ms, healthy: 1)
        #expect(joined.joined == waiting.id)
        #expect(joined.dispatched.isEmpty && joined.expires == nil)
        // Full: the next one opens a batch of its own.
        let opened = batches.enqueue(id: 2, group: "g", pairs: 1, now: ms, healthy: 1)
        #expect(opened.joined == nil)
        #expect(opened.expires == ms * 3)
        #expect(batches.seal(waiting.id)?.entries == [0, 1])
        #expect(batches.seal(waiting.id) == nil)
        // Sealed batches take nobody.
        let later = batches.enqueue(id: 3, group: "g", pairs: 1, now: ms, healthy: 1)
        #expect(later.joined == nil)
        #expect(batches.expire(now: ms * 3, healthy: 1).map(\.entries) == [[2, 3]])
    }
}
