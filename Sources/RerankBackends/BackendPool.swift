import Logging
import RerankCore
import Synchronization

/// Receives every backend call's outcome; the app's stats and metrics implement it.
public protocol BackendPoolObserver: Sendable {
    func backendCall(model: String, backend: String, pairs: Int, duration: Duration, error: BackendError?)
}

/// The backends serving one model: splits a batch of pairs into chunks of at most `maxBatch`, sends the
/// chunks concurrently, each to the next healthy backend, and fails over to the others on a retryable error.
/// ```swift
/// let pool = BackendPool(model: "bge-reranker-v2-m3", backends: [gpu0, gpu1], configuration: .init(maxBatch: 64))
/// let chunks = await pool.score(query: q, documents: docs, settings: .init(), logger: logger)
/// ```
public final class BackendPool: Sendable {
    public struct Configuration: Sendable {
        public var maxBatch: Int
        public var ejectAfter: Int
        public var ejectFor: Duration

        public init(maxBatch: Int = 64, ejectAfter: Int = 3, ejectFor: Duration = .seconds(10)) {
            self.maxBatch = max(1, maxBatch)
            self.ejectAfter = ejectAfter
            self.ejectFor = ejectFor
        }
    }

    /// One chunk's outcome: the documents it covered (a range of the input) and their scores or the error.
    public struct ChunkResult: Sendable {
        public var range: Range<Int>
        public var result: Result<BackendReply, BackendError>
    }

    public let model: String
    public let backends: [any BackendClient]
    public let configuration: Configuration
    private let observer: (any BackendPoolObserver)?
    private let clock = ContinuousClock()
    private let epoch: ContinuousClock.Instant
    /// Protected by its own lock; held only to pick or record, never across a call.
    private let state: Mutex<StateMachine>
    /// The chunk size in use: `maxBatch`, lowered to a backend's published limit once discovered.
    private let batchLimit: Atomic<Int>
    /// Backends whose limit has been read (or that publish none); protected by its own lock.
    private let discovered = Mutex<Set<Int>>([])

    public init(model: String, backends: [any BackendClient], configuration: Configuration, observer: (any BackendPoolObserver)? = nil) {
        self.model = model
        self.backends = backends
        self.configuration = configuration
        self.observer = observer
        self.epoch = clock.now
        self.state = Mutex(StateMachine(count: backends.count, ejectAfter: configuration.ejectAfter, ejectFor: configuration.ejectFor))
        self.batchLimit = Atomic(configuration.maxBatch)
    }

    /// The most documents sent in one backend call right now.
    public var effectiveMaxBatch: Int { batchLimit.load(ordering: .relaxed) }

    /// Reads each backend's published per-call limit (once per backend, retried until it answers) and
    /// lowers the chunk size to the smallest, so a `max_batch` above a TEI server's limit cannot turn every
    /// large miss into a 422.
    public func discoverBatchLimits(logger: Logger) async {
        let pending = discovered.withLock { done in backends.indices.filter { !done.contains($0) } }
        for index in pending {
            guard let discovering = backends[index] as? any BatchLimitDiscovering else {
                discovered.withLock { _ = $0.insert(index) }
                continue
            }
            guard let limit = await discovering.discoverBatchLimit(logger: logger) else { continue }
            // Writers serialise on `discovered`'s lock; readers only load.
            let before = discovered.withLock { done in
                done.insert(index)
                let before = batchLimit.load(ordering: .relaxed)
                if limit < before { batchLimit.store(limit, ordering: .relaxed) }
                return before
            }
            if limit < before {
                logger.warning("backend accepts fewer documents per call than max_batch; using its limit", metadata: [
                    "rerank.backend": "\(backends[index].name)", "rerank.model": "\(model)",
                    "rerank.max_batch": "\(configuration.maxBatch)", "rerank.backend_limit": "\(limit)",
                ])
            }
        }
    }


    private var now: Duration { clock.now - epoch }

    /// Names of the backends not currently ejected.
    public var healthyBackends: [String] {
        let now = self.now
        return state.withLock { state in backends.indices.filter { state.isHealthy($0, now: now) }.map { backends[$0].name } }
    }

    /// Scores every document, in chunks; a failed chunk does not fail the others.
    public func score(query: String, documents: [String], settings: ScoreSettings, logger: Logger) async -> [ChunkResult] {
        let size = effectiveMaxBatch
        let ranges = stride(from: 0, to: documents.count, by: size).map { $0..<min($0 + size, documents.count) }
        if ranges.count == 1 {
            return [ChunkResult(range: ranges[0], result: await scoreChunk(query: query, documents: documents, settings: settings, logger: logger))]
        }
        return await withTaskGroup(of: ChunkResult.self) { group in
            for range in ranges {
                group.addTask {
                    let chunk = Array(documents[range])
                    return ChunkResult(range: range, result: await self.scoreChunk(query: query, documents: chunk, settings: settings, logger: logger))
                }
            }
            var results: [ChunkResult] = []
            for await result in group { results.append(result) }
            return results
        }
    }

    /// Probes every ejected backend that can be probed and brings back those that answer; returns their names.
    ///
    /// Called periodically by ``HealthChecker``, so a recovered backend rejoins before live traffic has to
    /// risk a request on it.
    @discardableResult
    public func probeEjected(logger: Logger) async -> [String] {
        let now = self.now
        let ejected = state.withLock { state in backends.indices.filter { !state.isHealthy($0, now: now) } }
        var recovered: [String] = []
        for index in ejected {
            guard let probing = backends[index] as? any HealthProbing, await probing.probe(logger: logger) else { continue }
            let event = state.withLock { $0.succeeded(index) }
            if event != .none {
                recovered.append(backends[index].name)
                logger.info("backend recovered (health probe)", metadata: ["rerank.backend": "\(backends[index].name)", "rerank.model": "\(model)"])
            }
        }
        return recovered
    }

    private func scoreChunk(query: String, documents: [String], settings: ScoreSettings, logger: Logger) async -> Result<BackendReply, BackendError> {
        let order = state.withLock { $0.attemptOrder(now: now) }
        var lastError: BackendError?
        for index in order {
            let backend = backends[index]
            let start = clock.now
            do {
                let reply = try await backend.score(query: query, documents: documents, settings: settings, logger: logger)
                observer?.backendCall(model: model, backend: backend.name, pairs: documents.count, duration: clock.now - start, error: nil)
                let event = state.withLock { $0.succeeded(index) }
                if event != .none { logger.info("backend recovered", metadata: ["rerank.backend": "\(backend.name)", "rerank.model": "\(model)"]) }
                return .success(reply)
            } catch {
                observer?.backendCall(model: model, backend: backend.name, pairs: documents.count, duration: clock.now - start, error: error)
                lastError = error
                guard error.isRetryable else { return .failure(error) }
                let now = self.now
                let event = state.withLock { $0.failed(index, now: now) }
                if case .ejected = event {
                    logger.warning("backend ejected", metadata: ["rerank.backend": "\(backend.name)", "error.type": "\(error)"])
                } else {
                    logger.debug("backend call failed; trying the next", metadata: ["rerank.backend": "\(backend.name)", "error.type": "\(error)"])
                }
            }
        }
        return .failure(lastError ?? .unreachable(backend: model, reason: "no backend configured"))
    }
}
