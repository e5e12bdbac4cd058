import Logging
import RerankCore
import Synchronization
import TestSupport
import Testing

@testable import RerankBackends

/// A backend that records each call's pairs, holds calls while the test says so, and refuses (422) a call
/// holding a document that starts with "BAD". Its score of a pair is `100 × query length + document length`.
final class GatedBackendClient: BackendClient {
    struct Call: Equatable {
        var queries: [String]
        var documents: [String]
    }

    let name: String
    let scoresMixedQueries: Bool
    let calls = Mutex<[Call]>([])
    private let gate = Mutex<(holding: Bool, parked: [CheckedContinuation<Void, Never>])>((false, []))

    init(name: String, mixed: Bool) {
        self.name = name
        self.scoresMixedQueries = mixed
    }

    static func score(_ query: String, _ document: String) -> Double { Double(100 * query.count + document.count) }

    func hold() { gate.withLock { $0.holding = true } }

    func release() {
        let parked = gate.withLock { gate in
            gate.holding = false
            defer { gate.parked = [] }
            return gate.parked
        }
        for continuation in parked { continuation.resume() }
    }

    func score(query: String, documents: [String], settings: ScoreSettings, logger: Logger) async throws(BackendError) -> BackendReply {
        try await score(queries: Array(repeating: query, count: documents.count), documents: documents, settings: settings, logger: logger)
    }

    func score(queries: [String], documents: [String], settings: ScoreSettings, logger: Logger) async throws(BackendError) -> BackendReply {
        precondition(scoresMixedQueries || Set(queries).count <= 1, "mixed queries sent to a backend that cannot score them")
        calls.withLock { $0.append(Call(queries: queries, documents: documents)) }
        await withCheckedContinuation { continuation in
            let now = gate.withLock { gate in
                if gate.holding { gate.parked.append(continuation) }
                return !gate.holding
            }
            if now { continuation.resume() }
        }
        if documents.contains(where: { $0.hasPrefix("BAD") }) { throw .status(backend: name, code: 422, message: "input is too long") }
        return BackendReply(scores: zip(queries, documents).map { Self.score($0, $1) }, tokens: documents.count)
    }
}

/// Cross-request batching through the pool: which calls go out, and what each request gets back.
@Suite struct BackendPoolBatchingTests {
    let logger = Logger(label: "pool-batching-tests")

    /// One backend, one slot, `batch_window` 2 ms, on a manual clock, its first call held so the pool is busy.
    func busyPool(mixed: Bool) async -> (BackendPool, GatedBackendClient, ManualClock, Task<BackendPool.Outcome, Never>) {
        let clock = ManualClock()
        let backend = GatedBackendClient(name: "gpu", mixed: mixed)
        let pool = BackendPool(
            model: "m", backends: [backend],
            configuration: .init(maxBatch: 8, chunkTimeout: .seconds(30), backends: [.init(maxConcurrency: 1)], batchWindow: .milliseconds(2)),
            time: TimeSource(clock)
        )
        backend.hold()
        let logger = self.logger
        let first = Task { await pool.score(query: "first", documents: ["x"], settings: .init(), logger: logger) }
        while backend.calls.withLock({ $0.count }) < 1 { await Task.yield() }
        return (pool, backend, clock, first)
    }

    func score(_ pool: BackendPool, _ query: String, _ documents: [String], sendWithin: Duration? = nil) -> Task<BackendPool.Outcome, Never> {
        let logger = self.logger
        return Task { await pool.score(query: query, documents: documents, settings: .init(), sendWithin: sendWithin, logger: logger) }
    }

    @Test func missesOfDifferentQueriesShareOneCallOnABackendThatScoresMixedQueries() async {
        let (pool, backend, clock, first) = await busyPool(mixed: true)
        let requests = [("qb", ["b1", "b22"]), ("qcc", ["c1"]), ("qddd", ["d1", "d2"])].map { ($0, $1, score(pool, $0, $1)) }
        while pool.batchingPairs < 5 { await Task.yield() }
        #expect(backend.calls.withLock { $0.count } == 1)
        clock.advance(by: .milliseconds(2))   // the window ends; the batch waits for the held slot
        while pool.batchingPairs > 0 { await Task.yield() }
        backend.release()
        #expect(await first.value.scores == [GatedBackendClient.score("first", "x")])
        for (query, documents, task) in requests {
            let outcome = await task.value
            #expect(outcome.scores == documents.map { GatedBackendClient.score(query, $0) })
            #expect(outcome.errors.allSatisfy { $0 == nil })
        }
        let calls = backend.calls.withLock { $0 }
        #expect(calls.count == 2)
        #expect(Set(calls[1].queries) == ["qb", "qcc", "qddd"])
        #expect(calls[1].documents.sorted() == ["b1", "b22", "c1", "d1", "d2"])
    }

    @Test func onASingleQueryBackendOnlyMissesOfTheSameQueryShareACall() async {
        let (pool, backend, clock, first) = await busyPool(mixed: false)
        let a1 = score(pool, "qa", ["a1"])
        let b = score(pool, "qb", ["b1"])
        let a2 = score(pool, "qa", ["a2", "a3"])
        while pool.batchingPairs < 4 { await Task.yield() }
        clock.advance(by: .milliseconds(2))
        while pool.batchingPairs > 0 { await Task.yield() }
        backend.release()
        _ = await first.value
        #expect(await a1.value.scores == [GatedBackendClient.score("qa", "a1")])
        #expect(await a2.value.scores == ["a2", "a3"].map { GatedBackendClient.score("qa", $0) })
        #expect(await b.value.scores == [GatedBackendClient.score("qb", "b1")])
        let calls = backend.calls.withLock { $0 }.dropFirst()
        #expect(calls.count == 2)
        #expect(Set(calls.map { Set($0.queries) }) == [["qa"], ["qb"]])
        #expect(calls.first { $0.queries.first == "qa" }?.documents.sorted() == ["a1", "a2", "a3"])
    }

    @Test func aDocumentTheBackendRefusesFailsOnlyTheRequestThatSentIt() async {
        let (pool, backend, clock, first) = await busyPool(mixed: true)
        let good1 = score(pool, "q1", ["fine", "also fine"])
        let bad = score(pool, "q2", ["ok", "BAD too long"])
        let good2 = score(pool, "q3", ["fine too"])
        while pool.batchingPairs < 5 { await Task.yield() }
        clock.advance(by: .milliseconds(2))
        while pool.batchingPairs > 0 { await Task.yield() }
        backend.release()
        _ = await first.value
        #expect(await good1.value.scores == ["fine", "also fine"].map { GatedBackendClient.score("q1", $0) })
        #expect(await good2.value.scores == [GatedBackendClient.score("q3", "fine too")])
        let refused = await bad.value
        // Within the offending request, its own bisection keeps the good document.
        #expect(refused.scores == [GatedBackendClient.score("q2", "ok"), nil])
        #expect(refused.errors == [nil, .status(backend: "gpu", code: 422, message: "input is too long")])
    }

    @Test func aRequestWhoseDeadlinePassedIsLeftOutOfTheSharedCall() async {
        let (pool, backend, clock, first) = await busyPool(mixed: true)
        let late = score(pool, "late", ["l1"], sendWithin: .milliseconds(1))
        let patient = score(pool, "patient", ["p1"])
        while pool.batchingPairs < 2 { await Task.yield() }
        clock.advance(by: .milliseconds(2))
        while pool.batchingPairs > 0 { await Task.yield() }
        backend.release()
        _ = await first.value
        #expect(await late.value.errors == [.clientDeadline(model: "m")])
        #expect(await patient.value.scores == [GatedBackendClient.score("patient", "p1")])
        #expect(backend.calls.withLock { $0.last } == .init(queries: ["patient"], documents: ["p1"]))
    }

    @Test func aJobChunkNeverSharesAnInteractiveBatchNorTakesTheSlotAWaitingOneNeeds() async {
        let clock = ManualClock()
        let backend = GatedBackendClient(name: "gpu", mixed: true)
        let pool = BackendPool(
            model: "m", backends: [backend],
            configuration: .init(
                maxBatch: 8, backends: [.init(maxConcurrency: 2)], backgroundShare: 0.5, batchWindow: .milliseconds(2)
            ),
            time: TimeSource(clock)
        )
        backend.hold()
        let logger = self.logger
        let first = score(pool, "first", ["x"])
        while backend.calls.withLock({ $0.count }) < 1 { await Task.yield() }
        // An interactive miss waits for its window (the one backend has a batch out) ...
        let interactive = score(pool, "qa", ["a1"])
        while pool.batchingPairs < 1 { await Task.yield() }
        // ... and a job chunk does not take the backend's second slot meanwhile: that slot is the waiting batch's.
        let job = Task { await pool.score(query: "job", documents: ["j1", "j2"], settings: .init(), priority: .background, logger: logger) }
        for _ in 0..<10_000 { await Task.yield() }
        #expect(backend.calls.withLock { $0.count } == 1)
        // The window ends: the interactive batch takes the slot, in a call of its own (never shared with the job).
        clock.advance(by: .milliseconds(2))
        while backend.calls.withLock({ $0.count }) < 2 { await Task.yield() }
        #expect(backend.calls.withLock { $0.last } == .init(queries: ["qa"], documents: ["a1"]))
        for _ in 0..<10_000 { await Task.yield() }
        #expect(backend.calls.withLock { $0.count } == 2)
        // Once interactive calls finish, the job goes, alone.
        backend.release()
        _ = await first.value
        #expect(await interactive.value.scores == [GatedBackendClient.score("qa", "a1")])
        #expect(await job.value.scores == ["j1", "j2"].map { GatedBackendClient.score("job", $0) })
        #expect(backend.calls.withLock { $0.last } == .init(queries: ["job", "job"], documents: ["j1", "j2"]))
    }

    @Test func withABackendIdleNothingWaitsForTheWindow() async {
        let backend = GatedBackendClient(name: "gpu", mixed: true)
        let clock = ManualClock()
        let pool = BackendPool(
            model: "m", backends: [backend], configuration: .init(maxBatch: 8, batchWindow: .seconds(1)), time: TimeSource(clock)
        )
        // The clock never moves: the call can only go out because the backend is idle.
        let outcome = await pool.score(query: "q", documents: ["a", "bb"], settings: .init(), logger: logger)
        #expect(outcome.scores == [GatedBackendClient.score("q", "a"), GatedBackendClient.score("q", "bb")])
    }
}

/// `retries`: how many other backends a failed call may try.
@Suite struct BackendPoolRetriesTests {
    let logger = Logger(label: "pool-retries-tests")

    @Test func aFailedCallTriesAtMostRetriesOtherBackends() async {
        let backends = (0..<3).map { FakeBackendClient(name: "gpu-\($0)") }
        for backend in backends { backend.state.withLock { $0.failing = true } }
        let pool = BackendPool(model: "m", backends: backends, configuration: .init(ejectAfter: 5, retries: 1))
        let outcome = await pool.score(query: "q", documents: ["a"], settings: .init(), logger: logger)
        #expect(outcome.errors[0]?.isRetryable == true)
        #expect(backends.map { $0.state.withLock { $0.calls.count } }.reduce(0, +) == 2)
    }

    @Test func withoutRetriesEveryHealthyBackendIsTried() async {
        let backends = (0..<3).map { FakeBackendClient(name: "gpu-\($0)") }
        for backend in backends.dropLast() { backend.state.withLock { $0.failing = true } }
        let pool = BackendPool(model: "m", backends: backends, configuration: .init(ejectAfter: 5))
        // Whichever two fail first, the third answers.
        for _ in 0..<3 {
            #expect(await pool.score(query: "q", documents: ["abc"], settings: .init(), logger: logger).scores == [3])
        }
    }
}
