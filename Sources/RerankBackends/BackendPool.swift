import Logging
import RerankCore
import Synchronization

/// Receives every backend call's outcome; the app's stats and metrics implement it.
public protocol BackendPoolObserver: Sendable {
    func backendCall(model: String, backend: String, pairs: Int, duration: Duration, error: BackendError?)
    /// A call of `pairs` was refused at once because the model's queue was full (`max_queue`).
    func shed(model: String, pairs: Int)
}

extension BackendPoolObserver {
    public func shed(model: String, pairs: Int) {}
}

/// The backends serving one model: splits a batch of pairs into chunks of at most `maxBatch`, sends the
/// chunks concurrently, each to the least loaded healthy backend (outstanding pairs over `weight`), and fails
/// over to the others on a retryable error. At most `maxConcurrency` calls per backend are in flight; past
/// ``Configuration/maxQueue`` pairs beyond that capacity, calls are refused at once (``BackendError/overloaded(model:)``).
/// ```swift
/// let pool = BackendPool(model: "bge-reranker-v2-m3", backends: [gpu0, gpu1], configuration: .init(maxBatch: 64))
/// let outcome = await pool.score(query: q, documents: docs, settings: .init(), logger: logger)
/// ```
/// Every chunk has one deadline (``Configuration/chunkTimeout``) that covers all its attempts; each attempt is
/// also bounded by its backend's own timeout. A chunk the backend refuses as bad input (400, 413, 422) is split
/// in halves until the refused documents are isolated, so one bad document fails alone.
public final class BackendPool: Sendable {
    /// What the policy sets for one backend of the pool.
    public struct BackendLimits: Sendable, Equatable {
        /// Relative capacity: a backend of weight 4 is given four times the outstanding pairs of one of weight 1.
        public var weight: Int
        /// Calls in flight to this backend; more wait locally.
        public var maxConcurrency: Int

        public init(weight: Int = 1, maxConcurrency: Int = 64) {
            self.weight = max(1, weight)
            self.maxConcurrency = max(1, maxConcurrency)
        }
    }

    /// A fixed pair every backend must score alike (within `tolerance`), or it is refused for good: another model
    /// or normalisation behind the same name would poison the cache for every replica.
    public struct Canary: Sendable, Equatable {
        public var query: String
        public var document: String
        public var tolerance: Double

        public init(query: String, document: String, tolerance: Double) {
            self.query = query
            self.document = document
            self.tolerance = tolerance
        }
    }

    public struct Configuration: Sendable {
        public var maxBatch: Int
        public var ejectAfter: Int
        public var ejectFor: Duration
        /// One deadline for a chunk, across every backend it is tried on.
        public var chunkTimeout: Duration
        /// Calls in flight per backend; more wait locally (the HTTP client's per-host connection limit).
        public var maxConcurrency: Int
        /// Extra calls a refused chunk may spend isolating the refused documents.
        public var bisectBudget: Int
        /// Weight and concurrency per backend, in the backends' order; empty: weight 1 and ``maxConcurrency`` each.
        public var backends: [BackendLimits]
        /// Pairs that may wait beyond the in-flight capacity (Σ max_concurrency × max_batch); `nil`: unbounded.
        public var maxQueue: Int?
        /// Checked at start-up and when a health probe re-admits a backend; `nil`: no check.
        public var canary: Canary?

        public init(
            maxBatch: Int = 64, ejectAfter: Int = 3, ejectFor: Duration = .seconds(10), chunkTimeout: Duration = .seconds(30),
            maxConcurrency: Int = 64, bisectBudget: Int = 32, backends: [BackendLimits] = [], maxQueue: Int? = nil,
            canary: Canary? = nil
        ) {
            self.canary = canary
            self.backends = backends
            self.maxQueue = maxQueue.map { max(0, $0) }
            self.maxBatch = max(1, maxBatch)
            self.ejectAfter = ejectAfter
            self.ejectFor = ejectFor
            self.chunkTimeout = chunkTimeout
            self.maxConcurrency = max(1, maxConcurrency)
            self.bisectBudget = max(0, bisectBudget)
        }
    }

    /// What a call to ``score(query:documents:settings:logger:)`` produced, per document.
    public struct Outcome: Sendable {
        /// The score of each document, `nil` where it failed.
        public var scores: [Double?]
        /// Why each failed document failed, `nil` where it was scored.
        public var errors: [BackendError?]
        /// Tokens the backends reported.
        public var tokens: Int

        init(count: Int) {
            scores = Array(repeating: nil, count: count)
            errors = Array(repeating: nil, count: count)
            tokens = 0
        }
    }

    public let model: String
    public let backends: [any BackendClient]
    public let configuration: Configuration
    private let observer: (any BackendPoolObserver)?
    private let time: TimeSource
    private let gates: [SlotGate]
    private let limits: [BackendLimits]
    /// Health, outstanding pairs, admitted pairs and chunk size. Protected by its own lock; held only to pick
    /// or record, never across a call or a log line.
    private let state: Mutex<StateMachine>

    public init(
        model: String, backends: [any BackendClient], configuration: Configuration, observer: (any BackendPoolObserver)? = nil,
        time: TimeSource = .continuous
    ) {
        self.model = model
        self.backends = backends
        self.configuration = configuration
        self.observer = observer
        self.time = time
        precondition(configuration.backends.isEmpty || configuration.backends.count == backends.count, "one BackendLimits per backend")
        let limits = configuration.backends.isEmpty
            ? Array(repeating: BackendLimits(maxConcurrency: configuration.maxConcurrency), count: backends.count) : configuration.backends
        self.limits = limits
        self.gates = limits.map { SlotGate(limit: $0.maxConcurrency) }
        self.state = Mutex(
            StateMachine(
                count: backends.count, ejectAfter: configuration.ejectAfter, ejectFor: configuration.ejectFor, maxBatch: configuration.maxBatch,
                weights: limits.map(\.weight)
            )
        )
    }

    /// The most documents sent in one backend call right now.
    public var effectiveMaxBatch: Int { state.withLock { $0.batchLimit } }

    /// Names of the backends not currently ejected.
    public var healthyBackends: [String] {
        let now = time.now
        return state.withLock { state in backends.indices.filter { state.isHealthy($0, now: now) }.map { backends[$0].name } }
    }

    /// Names of the backends the consistency guard refused.
    public var refusedBackends: Set<String> {
        Set(state.withLock { $0.refused }.map { backends[$0].name })
    }

    /// Scores the canary pair on each backend in `indices` (all when `nil`) not yet refused; refuses, with an
    /// error log, each whose score is further than the tolerance from the first healthy backend's. Returns
    /// whether each checked backend may be used (`false` when refused or its call failed).
    @discardableResult
    public func checkCanary(_ indices: [Int]? = nil, logger: Logger) async -> [Int: Bool] {
        guard let canary = configuration.canary else { return [:] }
        var verdicts: [Int: Bool] = [:]
        for index in indices ?? Array(backends.indices) {
            guard !state.withLock({ $0.refused.contains(index) }) else {
                verdicts[index] = false
                continue
            }
            let backend = backends[index]
            let reply: BackendReply
            do {
                reply = try await backend.score(query: canary.query, documents: [canary.document], settings: .init(), logger: logger)
            } catch {
                state.withLock { $0.canaryUnchecked(index) }
                logger.warning("canary call failed; backend left out until a health probe gets it checked", metadata: ["rerank.backend": "\(backend.name)", "error.type": "\(error)"])
                verdicts[index] = false
                continue
            }
            guard let score = reply.scores.first, reply.scores.count == 1 else {
                state.withLock { $0.canaryUnchecked(index) }
                verdicts[index] = false
                continue
            }
            let verdict = state.withLock { $0.canaryScored(index, score: score, tolerance: canary.tolerance) }
            if case .refused(let reference, let difference) = verdict {
                logger.error("backend REFUSED: its canary score differs from the pool's (another model or normalisation?); it will never be used", metadata: [
                    "rerank.backend": "\(backend.name)", "rerank.model": "\(model)", "rerank.canary.score": "\(score)",
                    "rerank.canary.reference": "\(reference)", "rerank.canary.difference": "\(difference)",
                    "rerank.canary.tolerance": "\(canary.tolerance)",
                ])
                verdicts[index] = false
            } else {
                verdicts[index] = true
            }
        }
        return verdicts
    }

    /// Calls in flight or waiting for a slot, per backend name.
    public var inFlight: [String: Int] {
        let calls = state.withLock { $0.calls }
        return Dictionary(zip(backends.map(\.name), calls), uniquingKeysWith: +)
    }

    /// Pairs inside ``score(query:documents:settings:logger:)`` calls now (waiting or in flight).
    public var admittedPairs: Int { state.withLock { $0.admitted } }

    /// Reads each backend's published per-call limit (once per backend, retried until it answers) and
    /// lowers the chunk size to the smallest, so a `max_batch` above a TEI server's limit cannot turn every
    /// large miss into a 422.
    public func discoverBatchLimits(logger: Logger) async {
        for index in state.withLock({ $0.limitsToDiscover }) {
            var limit: Int?
            if let discovering = backends[index] as? any BatchLimitDiscovering {
                guard let found = await discovering.discoverBatchLimit(logger: logger) else { continue }
                limit = found
            }
            let lowered = state.withLock { $0.limitDiscovered(index, limit: limit) }
            if let before = lowered, let limit {
                logger.warning("backend accepts fewer documents per call than max_batch; using its limit", metadata: [
                    "rerank.backend": "\(backends[index].name)", "rerank.model": "\(model)",
                    "rerank.max_batch": "\(before)", "rerank.backend_limit": "\(limit)",
                ])
            }
        }
    }

    /// Scores every document, in chunks sent concurrently; a failed chunk (or a refused document) does not
    /// fail the others.
    ///
    /// When the pairs already admitted plus these would pass the in-flight capacity plus ``Configuration/maxQueue``,
    /// nothing is sent and every document fails with ``BackendError/overloaded(model:)``.
    ///
    /// With `sendWithin` (a client's deadline), a chunk not yet sent when it passes is not sent: it fails with
    /// ``BackendError/clientDeadline(model:)``, which never counts against a backend. Chunks already sent complete.
    public func score(
        query: String, documents: [String], settings: ScoreSettings, sendWithin: Duration? = nil, logger: Logger
    ) async -> Outcome {
        var outcome = Outcome(count: documents.count)
        let pairs = documents.count
        let admitted = state.withLock { state in
            let limit = configuration.maxQueue.map { $0 + limits.reduce(0) { $0 + $1.maxConcurrency } * state.batchLimit }
            return state.admit(pairs: pairs, limit: limit)
        }
        guard admitted else {
            logger.debug("pool queue full; shedding", metadata: ["rerank.model": "\(model)", "rerank.pairs": "\(pairs)"])
            observer?.shed(model: model, pairs: pairs)
            outcome.errors = Array(repeating: .overloaded(model: model), count: pairs)
            return outcome
        }
        defer { state.withLock { $0.left(pairs: pairs) } }
        let size = effectiveMaxBatch
        let deadline = time.now + configuration.chunkTimeout
        let ranges = stride(from: 0, to: documents.count, by: size).map { $0..<min($0 + size, documents.count) }
        let job = Job(
            query: query, documents: documents, settings: settings, deadline: deadline, sendBy: sendWithin.map { time.now + $0 }, logger: logger,
            budget: configuration.bisectBudget
        )
        if ranges.count == 1 {
            merge(await scoreRange(ranges[0], job), into: &outcome)
            return outcome
        }
        await withTaskGroup(of: [Piece].self) { group in
            for range in ranges {
                group.addTask { await self.scoreRange(range, job) }
            }
            for await pieces in group { merge(pieces, into: &outcome) }
        }
        return outcome
    }

    /// Probes every ejected backend that can be probed and brings back those that answer; returns their names.
    ///
    /// Called periodically by ``HealthChecker``, so a recovered backend rejoins before live traffic has to
    /// risk a request on it.
    @discardableResult
    public func probeEjected(logger: Logger) async -> [String] {
        let now = time.now
        let ejected = state.withLock { state in backends.indices.filter { !state.isHealthy($0, now: now) && !state.refused.contains($0) } }
        var recovered: [String] = []
        for index in ejected {
            guard let probing = backends[index] as? any HealthProbing, await probing.probe(logger: logger) else { continue }
            // Re-admitted only if it still scores like the pool (a restarted worker may serve something else now).
            if configuration.canary != nil, await checkCanary([index], logger: logger)[index] != true { continue }
            let event = state.withLock { $0.succeeded(index) }
            if event != .none {
                recovered.append(backends[index].name)
                logger.info("backend recovered (health probe)", metadata: ["rerank.backend": "\(backends[index].name)", "rerank.model": "\(model)"])
            }
        }
        return recovered
    }

    // MARK: - One chunk

    /// The inputs every chunk of one ``score(query:documents:settings:logger:)`` call shares.
    private struct Job: Sendable {
        var query: String
        var documents: [String]
        var settings: ScoreSettings
        var deadline: Duration
        /// No chunk is sent after this (the client's own deadline); `nil`: no such limit.
        var sendBy: Duration?
        var logger: Logger
        let budget: BisectBudget

        init(query: String, documents: [String], settings: ScoreSettings, deadline: Duration, sendBy: Duration?, logger: Logger, budget: Int) {
            self.sendBy = sendBy
            self.query = query
            self.documents = documents
            self.settings = settings
            self.deadline = deadline
            self.logger = logger
            self.budget = BisectBudget(budget)
        }
    }

    /// Extra calls left for isolating refused documents, shared by every chunk of one call.
    private final class BisectBudget: Sendable {
        private let left: Atomic<Int>
        init(_ value: Int) { left = Atomic(value) }
        /// Takes `count` calls from the budget when that many are left.
        func take(_ count: Int) -> Bool {
            var current = left.load(ordering: .relaxed)
            while current >= count {
                let (exchanged, original) = left.compareExchange(expected: current, desired: current - count, ordering: .relaxed)
                if exchanged { return true }
                current = original
            }
            return false
        }
    }

    /// A range of the documents and what happened to it.
    private struct Piece: Sendable {
        var range: Range<Int>
        var result: Result<BackendReply, BackendError>
    }

    private func merge(_ pieces: [Piece], into outcome: inout Outcome) {
        for piece in pieces {
            switch piece.result {
            case .success(let reply):
                outcome.tokens += reply.tokens
                for (offset, score) in zip(piece.range, reply.scores) { outcome.scores[offset] = score }
            case .failure(let error):
                for offset in piece.range { outcome.errors[offset] = error }
            }
        }
    }

    /// Scores one range; when the backend refuses it as bad input, splits it to isolate the refused documents.
    private func scoreRange(_ range: Range<Int>, _ job: Job) async -> [Piece] {
        let result = await scoreChunk(Array(job.documents[range]), job)
        guard case .failure(let error) = result, error.isRefusal, range.count > 1, job.budget.take(2) else {
            return [Piece(range: range, result: result)]
        }
        let middle = range.lowerBound + range.count / 2
        async let left = scoreRange(range.lowerBound..<middle, job)
        async let right = scoreRange(middle..<range.upperBound, job)
        return await left + right
    }

    /// Tries the chunk on the backend ``StateMachine/pick(now:pairs:excluding:)`` chooses, then on the next
    /// untried one, until one answers, a non-retryable error, or the chunk's deadline.
    private func scoreChunk(_ documents: [String], _ job: Job) async -> Result<BackendReply, BackendError> {
        var tried: Set<Int> = []
        var lastError: BackendError?
        let pairs = documents.count
        while true {
            let start = time.now
            if let sendBy = job.sendBy, start >= sendBy { return .failure(lastError ?? .clientDeadline(model: model)) }
            guard start < job.deadline, let index = state.withLock({ $0.pick(now: start, pairs: pairs, excluding: tried) }) else { break }
            tried.insert(index)
            let backend = backends[index]
            let result = await attempt(index, documents, job, deadline: min(job.deadline, start + backend.timeout))
            state.withLock { $0.finished(index, pairs: pairs) }
            let duration = time.now - start
            switch result {
            case .success(let reply):
                observer?.backendCall(model: model, backend: backend.name, pairs: documents.count, duration: duration, error: nil)
                let event = state.withLock { $0.succeeded(index) }
                if event != .none { job.logger.info("backend recovered", metadata: ["rerank.backend": "\(backend.name)", "rerank.model": "\(model)"]) }
                return .success(reply)
            case .failure(let error):
                lastError = error
                switch error {
                case .localQueueTimeout, .clientDeadline: return .failure(error)
                default: break
                }   // our own congestion, not the backend's fault
                observer?.backendCall(model: model, backend: backend.name, pairs: documents.count, duration: duration, error: error)
                guard error.isRetryable else { return .failure(error) }
                let event = state.withLock { $0.failed(index, now: time.now) }
                if case .ejected = event {
                    job.logger.warning("backend ejected", metadata: ["rerank.backend": "\(backend.name)", "rerank.model": "\(model)", "error.type": "\(error)"])
                } else {
                    job.logger.debug("backend call failed; trying the next", metadata: ["rerank.backend": "\(backend.name)", "error.type": "\(error)"])
                }
            }
        }
        return .failure(lastError ?? .timeout(backend: model))
    }

    /// One call to one backend under `deadline`: waits for a local slot, calls, checks the reply's shape.
    private func attempt(_ index: Int, _ documents: [String], _ job: Job, deadline: Duration) async -> Result<BackendReply, BackendError> {
        let backend = backends[index]
        let gate = gates[index]
        let admitted = Flag()
        let time = self.time
        let result = await Deadline.race(sleep: { try await time.sleep(until: deadline) }) { () -> Result<BackendReply, BackendError> in
            do { try await gate.acquire() } catch { return .failure(.localQueueTimeout(backend: backend.name)) }
            defer { gate.release() }
            // The client gave up while this chunk waited for a slot: do not send it.
            if let sendBy = job.sendBy, time.now >= sendBy { return .failure(.clientDeadline(model: self.model)) }
            admitted.set()
            do throws(BackendError) {
                let reply = try await backend.score(query: job.query, documents: documents, settings: job.settings, logger: job.logger)
                guard reply.scores.count == documents.count else {
                    return .failure(.invalidResponse(backend: backend.name, reason: "expected \(documents.count) scores, got \(reply.scores.count)"))
                }
                guard reply.scores.allSatisfy(\.isFinite) else {
                    return .failure(.invalidResponse(backend: backend.name, reason: "a score is not a finite number"))
                }
                return .success(reply)
            } catch {
                return .failure(error)
            }
        }
        return result ?? .failure(admitted.isSet ? .timeout(backend: backend.name) : .localQueueTimeout(backend: backend.name))
    }

    /// Set once, read from another task.
    private final class Flag: Sendable {
        private let value = Atomic(false)
        func set() { value.store(true, ordering: .releasing) }
        var isSet: Bool { value.load(ordering: .acquiring) }
    }
}
