import Logging
import RerankCore
import Synchronization
import TestSupport
import Testing

@testable import RerankBackends

/// Balancing, per-backend concurrency and load shedding through the pool itself (the decisions are in
/// ``BackendPoolStateMachineTests``).
@Suite struct BackendPoolBalancingTests {
    let logger = Logger(label: "pool-balancing-tests")

    @Test func aLargeMissIsSpreadOverBothBackends() async {
        let a = FakeBackendClient(name: "a")
        let b = FakeBackendClient(name: "b")
        let pool = BackendPool(model: "m", backends: [a, b], configuration: .init(maxBatch: 2))
        let documents = (0..<8).map { String(repeating: "x", count: $0 + 1) }
        let outcome = await pool.score(query: "q", documents: documents, settings: .init(), logger: logger)
        #expect(outcome.scores == documents.map { Double($0.count) })
        let calls = [a, b].map { $0.state.withLock { $0.calls.count } }
        #expect(calls.allSatisfy { $0 > 0 })
        #expect(calls.reduce(0, +) == 4)
        #expect(pool.inFlight == ["a": 0, "b": 0])
    }

    @Test func neverMoreThanMaxConcurrencyCallsInFlightPerBackend() async {
        let clock = ManualClock()
        let hanging = HangingBackendClient(name: "gpu", timeout: .seconds(10))
        let pool = BackendPool(
            model: "m", backends: [hanging],
            configuration: .init(maxBatch: 1, chunkTimeout: .seconds(10), backends: [.init(maxConcurrency: 2)]),
            time: TimeSource(clock)
        )
        let call = Task { await pool.score(query: "q", documents: ["a", "b", "c", "d", "e"], settings: .init(), logger: logger) }
        await clock.waitForSleepers(5)
        while hanging.calls.withLock({ $0 }) < 2 { await Task.yield() }
        for _ in 0..<100 { await Task.yield() }
        #expect(hanging.calls.withLock { $0 } == 2)
        #expect(pool.inFlight == ["gpu": 5])
        clock.advance(by: .seconds(10))
        let outcome = await call.value
        #expect(outcome.errors.filter { $0 == .timeout(backend: "gpu") }.count == 2)
        #expect(outcome.errors.filter { $0 == .localQueueTimeout(backend: "gpu") }.count == 3)
        #expect(hanging.calls.withLock { $0 } == 2)
        #expect(pool.inFlight == ["gpu": 0])
    }

    @Test func pairsBeyondCapacityPlusMaxQueueAreShedAtOnce() async {
        let clock = ManualClock()
        let hanging = HangingBackendClient(name: "gpu", timeout: .seconds(10))
        // Capacity 1 call x 2 pairs, plus 2 queued: 4 pairs may be admitted.
        let pool = BackendPool(
            model: "m", backends: [hanging],
            configuration: .init(maxBatch: 2, chunkTimeout: .seconds(10), backends: [.init(maxConcurrency: 1)], maxQueue: 2),
            time: TimeSource(clock)
        )
        let first = Task { await pool.score(query: "q", documents: ["a", "b"], settings: .init(), logger: logger) }
        while hanging.calls.withLock({ $0 }) == 0 { await Task.yield() }
        let second = Task { await pool.score(query: "q", documents: ["c", "d"], settings: .init(), logger: logger) }
        while pool.admittedPairs < 4 { await Task.yield() }

        let shed = await pool.score(query: "q", documents: ["e"], settings: .init(), logger: logger)
        #expect(shed.errors == [.overloaded(model: "m")])
        #expect(shed.scores == [nil])
        #expect(hanging.calls.withLock { $0 } == 1)

        await clock.waitForSleepers(2)
        clock.advance(by: .seconds(10))
        _ = await first.value
        _ = await second.value
        #expect(pool.admittedPairs == 0)
    }
}
