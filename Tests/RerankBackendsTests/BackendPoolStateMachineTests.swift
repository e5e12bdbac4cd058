import Testing

@testable import RerankBackends

@Suite struct BackendPoolStateMachineTests {
    typealias Machine = BackendPool.StateMachine

    @Test func roundRobinOverHealthyBackends() {
        var machine = Machine(count: 3, ejectAfter: 2, ejectFor: .seconds(10))
        #expect(machine.attemptOrder(now: .zero) == [0, 1, 2])
        #expect(machine.attemptOrder(now: .zero) == [1, 2, 0])
        #expect(machine.attemptOrder(now: .zero) == [2, 0, 1])
    }

    @Test func ejectedAfterConsecutiveFailuresAndLeftOutWhileOthersAreHealthy() {
        var machine = Machine(count: 3, ejectAfter: 2, ejectFor: .seconds(10))
        #expect(machine.failed(1, now: .seconds(1)) == .none)
        #expect(machine.failed(1, now: .seconds(1)) == .ejected(index: 1))
        #expect(!machine.isHealthy(1, now: .seconds(5)))
        #expect(machine.attemptOrder(now: .seconds(5)) == [0, 2])
        #expect(machine.attemptOrder(now: .seconds(5)) == [2, 0])
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
        #expect(machine.attemptOrder(now: .seconds(4)) == [1])
        #expect(machine.attemptOrder(now: .seconds(4)) == [1])
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
}
