import Logging
import RerankCore
import Synchronization
import Testing

@testable import RerankBackends

/// An in-process backend whose failures and health are set by the test.
final class FakeBackendClient: BackendClient, HealthProbing, BatchLimitDiscovering {
    struct State {
        var failing = false
        var healthy = true
        var calls: [[String]] = []
        var probes = 0
        /// What `/info` would publish; `nil` while the backend cannot answer.
        var batchLimit: Int?
        /// Added to every score (another normalisation behind the same name).
        var offset = 0.0
    }

    let name: String
    let state = Mutex(State())

    init(name: String) { self.name = name }

    func score(query: String, documents: [String], settings: ScoreSettings, logger: Logger) async throws(BackendError) -> BackendReply {
        let (failing, offset) = state.withLock { state in
            state.calls.append(documents)
            return (state.failing, state.offset)
        }
        if failing { throw .status(backend: name, code: 503, message: "down") }
        return BackendReply(scores: documents.map { Double($0.count) + offset }, tokens: documents.count)
    }

    func discoverBatchLimit(logger: Logger) async -> Int? {
        state.withLock { $0.batchLimit }
    }

    func probe(logger: Logger) async -> Bool {
        state.withLock { state in
            state.probes += 1
            return state.healthy
        }
    }
}

@Suite struct BackendPoolTests {
    let logger = Logger(label: "pool-tests")

    @Test func chunksFollowMaxBatchAndKeepOrder() async throws {
        let backend = FakeBackendClient(name: "a")
        let pool = BackendPool(model: "m", backends: [backend], configuration: .init(maxBatch: 3))
        let documents = ["a", "bb", "ccc", "dddd", "eeeee", "ffffff", "g"]
        let outcome = await pool.score(query: "q", documents: documents, settings: .init(), logger: logger)
        #expect(outcome.scores == documents.map { Double($0.count) })
        #expect(outcome.errors.allSatisfy { $0 == nil })
        #expect(backend.state.withLock { $0.calls.map(\.count).sorted() } == [1, 3, 3])
    }

    @Test func failsOverAndAHealthProbeBringsTheBackendBack() async throws {
        let broken = FakeBackendClient(name: "broken")
        let spare = FakeBackendClient(name: "spare")
        broken.state.withLock { $0.failing = true; $0.healthy = false }
        let pool = BackendPool(model: "m", backends: [broken, spare], configuration: .init(maxBatch: 8, ejectAfter: 1, ejectFor: .seconds(3600)))
        let first = await pool.score(query: "q", documents: ["x"], settings: .init(), logger: logger)
        #expect(first.scores == [1])
        #expect(pool.healthyBackends == ["spare"])

        // While its health endpoint is down, probing leaves it out.
        #expect(await pool.probeEjected(logger: logger).isEmpty)
        #expect(pool.healthyBackends == ["spare"])
        broken.state.withLock { $0.failing = false; $0.healthy = true }
        #expect(await pool.probeEjected(logger: logger) == ["broken"])
        #expect(pool.healthyBackends == ["broken", "spare"])
        // Healthy backends are never probed.
        #expect(spare.state.withLock { $0.probes } == 0)
    }

    @Test func aNonRetryableErrorIsNotFailedOver() async {
        final class Rejecting: BackendClient {
            let name = "strict"
            func score(query: String, documents: [String], settings: ScoreSettings, logger: Logger) async throws(BackendError) -> BackendReply {
                throw .status(backend: name, code: 400, message: "document too long")
            }
        }
        let spare = FakeBackendClient(name: "spare")
        let pool = BackendPool(model: "m", backends: [Rejecting(), spare], configuration: .init())
        let result = await pool.score(query: "q", documents: ["x"], settings: .init(), logger: logger)
        #expect(result.errors == [BackendError.status(backend: "strict", code: 400, message: "document too long")])
        #expect(spare.state.withLock { $0.calls.isEmpty })
    }

    @Test func publishedBatchLimitsLowerTheChunkSizeOnceKnown() async throws {
        let small = FakeBackendClient(name: "small")
        let large = FakeBackendClient(name: "large")
        large.state.withLock { $0.batchLimit = 16 }
        let pool = BackendPool(model: "m", backends: [small, large], configuration: .init(maxBatch: 8))
        await pool.discoverBatchLimits(logger: logger)
        // A limit above max_batch changes nothing; `small` could not answer yet.
        #expect(pool.effectiveMaxBatch == 8)
        small.state.withLock { $0.batchLimit = 3 }
        await pool.discoverBatchLimits(logger: logger)
        #expect(pool.effectiveMaxBatch == 3)
        _ = await pool.score(query: "q", documents: (0..<7).map { "d\($0)" }, settings: .init(), logger: logger)
        #expect((small.state.withLock { $0.calls } + large.state.withLock { $0.calls }).map(\.count).sorted() == [1, 3, 3])
        // Read once per backend: a later, larger answer does not raise it again.
        small.state.withLock { $0.batchLimit = 100 }
        await pool.discoverBatchLimits(logger: logger)
        #expect(pool.effectiveMaxBatch == 3)
    }

    @Test func aBackendDownAtStartIsLeftOutUntilAProbeGetsItsCanaryChecked() async {
        let a = FakeBackendClient(name: "a")
        let b = FakeBackendClient(name: "b")
        b.state.withLock { $0.failing = true }
        let canary = BackendPool.Canary(query: "q", document: "doc", tolerance: 1e-3)
        let pool = BackendPool(model: "m", backends: [a, b], configuration: .init(canary: canary))
        #expect(await pool.checkCanary(logger: logger) == [0: true, 1: false])
        #expect(pool.healthyBackends == ["a"])

        // It comes back serving something else: the probe does not re-admit it, and it is refused for good.
        b.state.withLock { $0.failing = false; $0.offset = 0.5 }
        #expect(await pool.probeEjected(logger: logger).isEmpty)
        #expect(pool.refusedBackends == ["b"])
        #expect(pool.healthyBackends == ["a"])
        b.state.withLock { $0.offset = 0 }
        #expect(await pool.probeEjected(logger: logger).isEmpty)
        _ = await pool.score(query: "q", documents: ["x", "y"], settings: .init(), logger: logger)
        #expect(b.state.withLock { $0.calls.count } == 2)   // its two canary calls, never a real one
    }

    @Test func aBackendThatAgreesIsReadmittedByTheProbe() async {
        let a = FakeBackendClient(name: "a")
        let b = FakeBackendClient(name: "b")
        b.state.withLock { $0.failing = true }
        let pool = BackendPool(model: "m", backends: [a, b], configuration: .init(canary: .init(query: "q", document: "doc", tolerance: 1e-3)))
        await pool.checkCanary(logger: logger)
        b.state.withLock { $0.failing = false }
        _ = await pool.probeEjected(logger: logger)
        #expect(pool.healthyBackends == ["a", "b"])
        #expect(pool.refusedBackends.isEmpty)
    }
}
