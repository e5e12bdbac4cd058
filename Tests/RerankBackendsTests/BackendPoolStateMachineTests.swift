import Testing

@testable import RerankBackends

@Suite struct BackendPoolStateMachineTests {
    typealias Machine = BackendPool.StateMachine

    /// Picks one backend after another for a chunk, finishing each attempt, until none is left.
    func order(_ machine: inout Machine, now: Duration, pairs: Int = 1) -> [Int] {
        var tried: Set<Int> = []
        var order: [Int] = []
        while let index = machine.pick(now: now, pairs: pairs, excluding: tried) {
            tried.insert(index)
            order.append(index)
            machine.finished(index, pairs: pairs)
        }
        return order
    }

    @Test func equalLoadsGoRoundRobinOverHealthyBackends() {
        var machine = Machine(count: 3, ejectAfter: 2, ejectFor: .seconds(10))
        #expect(machine.pick(now: .zero, pairs: 1) == 0)
        machine.finished(0, pairs: 1)
        #expect(machine.pick(now: .zero, pairs: 1) == 1)
        machine.finished(1, pairs: 1)
        #expect(machine.pick(now: .zero, pairs: 1) == 2)
        machine.finished(2, pairs: 1)
        #expect(machine.outstanding == [0, 0, 0])
    }

    @Test func theLeastOutstandingBackendIsPickedAndReserved() {
        var machine = Machine(count: 2, ejectAfter: 2, ejectFor: .seconds(10))
        #expect(machine.pick(now: .zero, pairs: 10) == 0)
        // Backend 0 holds 10 pairs: the next chunks go to 1 until it holds more.
        #expect(machine.pick(now: .zero, pairs: 4) == 1)
        #expect(machine.pick(now: .zero, pairs: 4) == 1)
        #expect(machine.outstanding == [10, 8])
        #expect(machine.calls == [1, 2])
        #expect(machine.pick(now: .zero, pairs: 4) == 1)
        #expect(machine.pick(now: .zero, pairs: 1) == 0)
        machine.finished(1, pairs: 4)
        #expect(machine.outstanding == [11, 8])
        #expect(machine.pick(now: .zero, pairs: 1) == 1)
    }

    @Test func weightScalesTheShareOfOutstandingPairs() {
        var machine = Machine(count: 2, ejectAfter: 2, ejectFor: .seconds(10), weights: [4, 1])
        var picks = [0, 0]
        for _ in 0..<10 { picks[machine.pick(now: .zero, pairs: 8)!] += 1 }
        #expect(picks == [8, 2])
        #expect(machine.outstanding == [64, 16])
    }

    @Test func aFailedOverChunkTriesEachHealthyBackendOnce() {
        var machine = Machine(count: 3, ejectAfter: 2, ejectFor: .seconds(10))
        #expect(order(&machine, now: .zero).sorted() == [0, 1, 2])
        #expect(machine.outstanding == [0, 0, 0])
    }

    @Test func ejectedAfterConsecutiveFailuresAndLeftOutWhileOthersAreHealthy() {
        var machine = Machine(count: 3, ejectAfter: 2, ejectFor: .seconds(10))
        #expect(machine.failed(1, now: .seconds(1)) == .none)
        #expect(machine.failed(1, now: .seconds(1)) == .ejected(index: 1))
        #expect(!machine.isHealthy(1, now: .seconds(5)))
        #expect(order(&machine, now: .seconds(5)).sorted() == [0, 2])
        #expect(order(&machine, now: .seconds(5)).sorted() == [0, 2])
        // Due back once the ejection elapses.
        #expect(machine.isHealthy(1, now: .seconds(11)))
    }

    @Test func aSuccessResetsTheFailureCountAndRecovers() {
        var machine = Machine(count: 2, ejectAfter: 2, ejectFor: .seconds(10))
        _ = machine.failed(0, now: .zero)
        #expect(machine.succeeded(0) == .none)
        #expect(machine.failed(0, now: .zero) == .none)
        #expect(machine.failed(0, now: .zero) == .ejected(index: 0))
        #expect(machine.succeeded(0) == .recovered(index: 0))
        #expect(machine.isHealthy(0, now: .zero))
    }

    @Test func whenAllAreEjectedOnlyTheSoonestDueIsTried() {
        var machine = Machine(count: 3, ejectAfter: 1, ejectFor: .seconds(10))
        _ = machine.failed(1, now: .seconds(1))
        _ = machine.failed(0, now: .seconds(2))
        _ = machine.failed(2, now: .seconds(3))
        #expect(order(&machine, now: .seconds(4)) == [1])
        #expect(order(&machine, now: .seconds(4)) == [1])
    }

    @Test func publishedLimitsOnlyLowerTheChunkSize() {
        var machine = Machine(count: 2, ejectAfter: 1, ejectFor: .seconds(10), maxBatch: 8)
        #expect(machine.limitsToDiscover == [0, 1])
        #expect(machine.limitDiscovered(0, limit: 16) == nil)
        #expect(machine.batchLimit == 8)
        #expect(machine.limitDiscovered(1, limit: 3) == 8)
        #expect(machine.batchLimit == 3)
        #expect(machine.limitsToDiscover.isEmpty)
    }

    func admit(_ machine: inout Machine, _ pairs: Int, _ limit: Int?) -> Bool { machine.admit(pairs: pairs, limit: limit) }

    @Test func admissionRefusesPastTheLimitButNeverAnIdlePool() {
        var machine = Machine(count: 1, ejectAfter: 1, ejectFor: .seconds(10))
        // An idle pool admits even a call larger than the limit.
        #expect(admit(&machine, 10, 4) == true)
        #expect(admit(&machine, 1, 4) == false)
        machine.left(pairs: 10)
        #expect(admit(&machine, 3, 4) == true)
        #expect(admit(&machine, 1, 4) == true)
        #expect(admit(&machine, 1, 4) == false)
        #expect(machine.admitted == 4)
        #expect(admit(&machine, 100, nil) == true)
    }

    @Test func aBackgroundCallOfNoPairsIsAdmittedWhileALargeRequestHoldsThePoolPastTheLimit() {
        var machine = Machine(count: 1, ejectAfter: 1, ejectFor: .seconds(10))
        #expect(admit(&machine, 10, 4) == true)   // idle pool: a large interactive request goes past the limit
        #expect(admit(&machine, 0, 4) == true)    // a job's call is not counted against max_queue, so never shed
        #expect(machine.admitted == 10)
    }

    @Test func aCanaryFarFromTheReferenceRefusesTheBackendForGood() {
        var machine = Machine(count: 3, ejectAfter: 1, ejectFor: .seconds(10))
        #expect(machine.canaryScored(0, score: 0.90, tolerance: 1e-3) == .reference)
        #expect(machine.canaryScored(1, score: 0.9005, tolerance: 1e-3) == .agrees)
        guard case .refused = machine.canaryScored(2, score: 0.5, tolerance: 1e-3) else {
            Issue.record("expected a refusal")
            return
        }
        #expect(!machine.isHealthy(2, now: .seconds(100)))
        #expect(order(&machine, now: .zero).sorted() == [0, 1])
        // Not even as the last resort when every other backend is ejected.
        _ = machine.failed(0, now: .zero)
        _ = machine.failed(1, now: .zero)
        #expect(order(&machine, now: .seconds(1)).allSatisfy { $0 != 2 })
        #expect(machine.succeeded(2) == .none)
        #expect(!machine.isHealthy(2, now: .seconds(100)))
    }
}
