import Logging
import RerankCore
import Synchronization
import TestSupport
import Testing

@testable import RerankBackends

/// A backend whose every call hangs until the test releases it (or forever), and that counts its calls.
final class HangingBackendClient: BackendClient {
    let name: String
    let timeout: Duration
    let calls = Mutex(0)
    /// Parked, never resumed: a continuation dropped unresumed makes the runtime print a misuse warning.
    private let parked = Mutex<[CheckedContinuation<Void, Never>]>([])

    init(name: String, timeout: Duration = .seconds(30)) {
        self.name = name
        self.timeout = timeout
    }

    func score(query: String, documents: [String], settings: ScoreSettings, logger: Logger) async throws(BackendError) -> BackendReply {
        calls.withLock { $0 += 1 }
        // Ignores cancellation on purpose, like a stalled response body.
        await withCheckedContinuation { continuation in parked.withLock { $0.append(continuation) } }
        return BackendReply(scores: [], tokens: 0)
    }
}

/// A backend that refuses (422) any call containing a document that starts with "BAD", like TEI refusing
/// an over-long input.
final class RefusingBackendClient: BackendClient {
    let name = "strict"
    let calls = Mutex<[[String]]>([])

    func score(query: String, documents: [String], settings: ScoreSettings, logger: Logger) async throws(BackendError) -> BackendReply {
        calls.withLock { $0.append(documents) }
        if documents.contains(where: { $0.hasPrefix("BAD") }) {
            throw .status(backend: name, code: 422, message: "input is too long")
        }
        return BackendReply(scores: documents.map { Double($0.count) }, tokens: 0)
    }
}

@Suite struct BackendPoolDeadlineTests {
    let logger = Logger(label: "pool-deadline-tests")

    @Test func aStalledCallIsAnsweredAtTheDeadlineEvenIfItIgnoresCancellation() async {
        let clock = ManualClock()
        let hanging = HangingBackendClient(name: "stalled", timeout: .seconds(5))
        let pool = BackendPool(
            model: "m", backends: [hanging], configuration: .init(ejectAfter: 3, chunkTimeout: .seconds(5)), time: TimeSource(clock)
        )
        let call = Task { await pool.score(query: "q", documents: ["a", "b"], settings: .init(), logger: logger) }
        await clock.waitForSleepers(1)
        clock.advance(by: .seconds(5))
        let outcome = await call.value
        #expect(outcome.scores == [nil, nil])
        #expect(outcome.errors == [.timeout(backend: "stalled"), .timeout(backend: "stalled")])
    }

    @Test func withEveryBackendDeadAChunkCostsOneDeadlineNotOnePerBackend() async {
        let clock = ManualClock()
        let backends = (0..<3).map { HangingBackendClient(name: "dead-\($0)", timeout: .seconds(30)) }
        let pool = BackendPool(
            model: "m", backends: backends, configuration: .init(ejectAfter: 1, chunkTimeout: .seconds(30)), time: TimeSource(clock)
        )
        let call = Task { await pool.score(query: "q", documents: ["a"], settings: .init(), logger: logger) }
        await clock.waitForSleepers(1)
        clock.advance(by: .seconds(30))
        let outcome = await call.value
        #expect(outcome.errors[0] == .timeout(backend: "dead-0"))
        #expect(backends.map { $0.calls.withLock { $0 } } == [1, 0, 0])

        // dead-0 is ejected now: the next chunk goes to a healthy backend only, never back to dead-0.
        let next = Task { await pool.score(query: "q", documents: ["b"], settings: .init(), logger: logger) }
        await clock.waitForSleepers(1)
        clock.advance(by: .seconds(30))
        _ = await next.value
        #expect(backends.map { $0.calls.withLock { $0 } } == [1, 1, 0])
    }

    @Test func aRefusedChunkIsSplitUntilOnlyTheRefusedDocumentFails() async {
        let strict = RefusingBackendClient()
        let pool = BackendPool(model: "m", backends: [strict], configuration: .init(maxBatch: 8))
        let documents = ["a", "bb", "ccc", "BAD one", "eeeee", "ffffff", "g", "hh"]
        let outcome = await pool.score(query: "q", documents: documents, settings: .init(), logger: logger)
        for (i, document) in documents.enumerated() where i != 3 {
            #expect(outcome.scores[i] == Double(document.count))
            #expect(outcome.errors[i] == nil)
        }
        #expect(outcome.scores[3] == nil)
        #expect(outcome.errors[3] == .status(backend: "strict", code: 422, message: "input is too long"))
        // 1 refused call of 8, then halves: 8 → 4+4 → 2+2 → 1+1: 7 calls in all.
        #expect(strict.calls.withLock { $0.count } == 7)
    }

    @Test func theBisectBudgetBoundsTheCallsForARequestWideRefusal() async {
        let strict = RefusingBackendClient()
        let pool = BackendPool(model: "m", backends: [strict], configuration: .init(maxBatch: 64, bisectBudget: 6))
        let documents = (0..<64).map { "BAD \($0)" }
        let outcome = await pool.score(query: "q", documents: documents, settings: .init(), logger: logger)
        #expect(outcome.errors.allSatisfy { $0?.isRefusal == true })
        #expect(strict.calls.withLock { $0.count } <= 7)
    }

    @Test func aReplyWithTheWrongCountIsInvalidAndFailsOver() async {
        final class Short: BackendClient {
            let name = "short"
            func score(query: String, documents: [String], settings: ScoreSettings, logger: Logger) async throws(BackendError) -> BackendReply {
                BackendReply(scores: [0.5], tokens: 0)
            }
        }
        let spare = FakeBackendClient(name: "spare")
        let pool = BackendPool(model: "m", backends: [Short(), spare], configuration: .init(ejectAfter: 1))
        let outcome = await pool.score(query: "q", documents: ["x", "yy"], settings: .init(), logger: logger)
        #expect(outcome.scores == [1, 2])
        #expect(pool.healthyBackends == ["spare"])
    }

    @Test func timeQueuedForALocalSlotIsNotHeldAgainstTheBackend() async {
        let clock = ManualClock()
        let hanging = HangingBackendClient(name: "busy", timeout: .seconds(10))
        let pool = BackendPool(
            model: "m", backends: [hanging], configuration: .init(ejectAfter: 2, chunkTimeout: .seconds(10), maxConcurrency: 1),
            time: TimeSource(clock)
        )
        let first = Task { await pool.score(query: "q", documents: ["a"], settings: .init(), logger: logger) }
        await clock.waitForSleepers(1)
        while hanging.calls.withLock({ $0 }) == 0 { await Task.yield() }
        let second = Task { await pool.score(query: "q", documents: ["b"], settings: .init(), logger: logger) }
        await clock.waitForSleepers(2)
        clock.advance(by: .seconds(10))
        #expect(await first.value.errors == [.timeout(backend: "busy")])
        #expect(await second.value.errors == [.localQueueTimeout(backend: "busy")])
        // One real failure (the first call), below eject_after: the queued one did not count.
        #expect(pool.healthyBackends == ["busy"])
        #expect(hanging.calls.withLock { $0 } == 1)
    }
}
