import Testing

@testable import RerankBackends

/// The background lane's rules, without concurrency: jobs take at most their share of the pool, only what
/// interactive chunks leave free, and go in FIFO order as chunks finish.
@Suite struct BackgroundLaneTests {
    typealias Lane = BackendPool.BackgroundLane<String>

    static func went(_ entry: Lane.Entry) -> Bool {
        if case .go = entry { return true }
        return false
    }

    @Test func theCapIsTheShareOfCapacityAndAtLeastOne() {
        #expect(Lane(capacity: 8, share: 0.5).cap == 4)
        #expect(Lane(capacity: 3, share: 0.5).cap == 1)
        #expect(Lane(capacity: 1, share: 0.1).cap == 1)
        #expect(Lane(capacity: 10, share: 1).cap == 10)
    }

    @Test func aBackendRefusedByTheCanaryLeavesTheLanesCapacity() {
        // Two backends of 4 slots, jobs' share 0.5: 4 background chunks. One refused: 4 slots left, so 2.
        var machine = BackendPool.StateMachine(count: 2, ejectAfter: 3, ejectFor: .seconds(10), capacity: 8, backgroundShare: 0.5, concurrency: [4, 4])
        #expect(machine.lane.cap == 4)
        _ = machine.canaryScored(0, score: 0.9, tolerance: 1e-3)
        _ = machine.canaryScored(1, score: 0.1, tolerance: 1e-3)
        #expect(machine.refused == [1])
        #expect(machine.lane.capacity == 4)
        #expect(machine.lane.cap == 2)
        // The live backend's 4 slots: 3 interactive chunks out leave room for 1 background one, not 4.
        var lane = Lane(capacity: 8, share: 0.5)
        lane.shrink(capacity: 4)
        for _ in 0..<3 { lane.interactiveStarted() }
        #expect((0..<3).map { Self.went(lane.enter(waiter: "job-\($0)")) } == [true, false, false])
    }

    @Test func backgroundNeverHoldsMoreThanItsShareOnAnIdlePool() {
        var lane = Lane(capacity: 8, share: 0.5)
        let entries = (0..<6).map { lane.enter(waiter: "job-\($0)") }
        #expect(entries.map(Self.went) == [true, true, true, true, false, false])
        #expect(lane.background == 4)
        #expect(lane.waitingCount == 2)
        // One finishes: exactly the first waiter goes.
        #expect(lane.backgroundFinished() == ["job-4"])
        #expect(lane.background == 4)
    }

    @Test func backgroundOnlyTakesWhatInteractiveChunksLeaveFree() {
        var lane = Lane(capacity: 4, share: 0.5)
        for _ in 0..<3 { lane.interactiveStarted() }
        #expect(Self.went(lane.enter(waiter: "a")))        // 3 interactive + 1 background = capacity
        #expect(!Self.went(lane.enter(waiter: "b")))       // no slot left, though under the cap of 2
        lane.interactiveStarted()                          // interactive is never held back
        #expect(lane.interactive == 4)
        #expect(lane.interactiveFinished() == [])          // 3 + 1 + b would still pass capacity
        #expect(lane.interactiveFinished() == ["b"])       // 2 interactive + 2 background
        #expect(lane.interactiveFinished() == [])          // cap 2 reached
        #expect(!Self.went(lane.enter(waiter: "c")))
        #expect(lane.backgroundFinished() == ["c"])
    }

    @Test func batchesWaitingForTheirWindowCountAsInteractiveDemand() {
        var lane = Lane(capacity: 4, share: 1)
        // One interactive chunk out and two batches holding interactive misses: one slot left for jobs.
        lane.interactiveStarted()
        #expect(lane.setBatched(2, version: 1).isEmpty)
        #expect((0..<2).map { Self.went(lane.enter(waiter: "job-\($0)")) } == [true, false])
        // A batch finished: the waiting job goes.
        #expect(lane.setBatched(1, version: 2) == ["job-1"])
    }

    @Test func aLateReadingOfTheBatchedCountIsIgnored() {
        var lane = Lane(capacity: 2, share: 1)
        #expect(lane.setBatched(0, version: 3).isEmpty)
        // Read before version 3, applied after it: ignored, so no stale count holds jobs back.
        #expect(lane.setBatched(2, version: 2).isEmpty)
        #expect(lane.batched == 0)
        #expect((0..<2).map { Self.went(lane.enter(waiter: "job-\($0)")) } == [true, true])
    }

    @Test func aWaiterThatGivesUpIsForgottenAndTheNextGoes() {
        var lane = Lane(capacity: 1, share: 1)
        #expect(Self.went(lane.enter(waiter: "a")))
        guard case .queued(let id) = lane.enter(waiter: "b") else {
            Issue.record("expected b to wait")
            return
        }
        _ = lane.enter(waiter: "c")
        #expect(lane.cancel(id: id) == "b")
        #expect(lane.cancel(id: id) == nil)
        #expect(lane.backgroundFinished() == ["c"])
    }

    @Test func aNewcomerDoesNotOvertakeWaiters() {
        var lane = Lane(capacity: 2, share: 1)
        lane.interactiveStarted()
        lane.interactiveStarted()
        #expect(!Self.went(lane.enter(waiter: "first")))
        #expect(lane.interactiveFinished() == ["first"])
        #expect(!Self.went(lane.enter(waiter: "second")))
        #expect(lane.background == 1)
    }
}
