import Logging
import RerankCore
import Synchronization

/// Receives every backend call's outcome; the app's stats and metrics implement it.
public protocol BackendPoolObserver: Sendable {
    /// One call to `backend`: its pairs, time and error, how many client requests shared it (`batch_window`) and
    /// whether it retried a call that failed on another backend.
    func backendCall(model: String, backend: String, pairs: Int, duration: Duration, error: BackendError?, requests: Int, retry: Bool)
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
        /// The most of the pool's concurrency that ``Priority/background`` calls may hold (policy `jobs.max_share`).
        public var backgroundShare = 0.5
        /// How long misses of different requests may wait to share a call (see ``BatchAssembler``); zero: no batching.
        public var batchWindow: Duration
        /// Other backends tried for a failed call; `nil`: every healthy one (within the chunk's deadline).
        public var retries: Int?

        public init(
            maxBatch: Int = 64, ejectAfter: Int = 3, ejectFor: Duration = .seconds(10), chunkTimeout: Duration = .seconds(30),
            maxConcurrency: Int = 64, bisectBudget: Int = 32, backends: [BackendLimits] = [], maxQueue: Int? = nil,
            backgroundShare: Double = 0.5, canary: Canary? = nil, batchWindow: Duration = .zero, retries: Int? = nil
        ) {
            self.backgroundShare = backgroundShare
            self.batchWindow = max(.zero, batchWindow)
            self.retries = retries.map { max(0, $0) }
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
    let observer: (any BackendPoolObserver)?
    let time: TimeSource
    let gates: [SlotGate]
    /// Calls the pool may have in flight at once: Σ `max_concurrency` (the `max_queue` bound is this many calls'
    /// worth of pairs beyond it).
    private let capacity: Int
    /// Health, outstanding pairs, admitted pairs and chunk size. Protected by its own lock; held only to pick
    /// or record, never across a call or a log line.
    let state: Mutex<StateMachine>
    /// Cross-request batching, when ``Configuration/batchWindow`` is more than zero.
    let batching: Batching?

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
        self.capacity = limits.reduce(0) { $0 + $1.maxConcurrency }
        self.gates = limits.map { SlotGate(limit: $0.maxConcurrency) }
        self.state = Mutex(
            StateMachine(
                count: backends.count, ejectAfter: configuration.ejectAfter, ejectFor: configuration.ejectFor, maxBatch: configuration.maxBatch,
                weights: limits.map(\.weight), capacity: capacity,
                backgroundShare: configuration.backgroundShare, concurrency: limits.map(\.maxConcurrency)
            )
        )
        self.batching = configuration.batchWindow > .zero
            ? Batching(window: configuration.batchWindow, maxBatch: configuration.maxBatch, mixedQueries: backends.allSatisfy(\.scoresMixedQueries))
            : nil
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

    /// Calls in flight or waiting for a slot, per backend name.
    public var inFlight: [String: Int] {
        let calls = state.withLock { $0.calls }
        return Dictionary(zip(backends.map(\.name), calls), uniquingKeysWith: +)
    }

    /// Pairs inside ``score(query:documents:settings:logger:)`` calls now (waiting or in flight).
    public var admittedPairs: Int { state.withLock { $0.admitted } }

    /// Calls waiting for one of the backend's `max_concurrency` slots, per backend name (part of ``inFlight``).
    public var waitingForSlot: [String: Int] {
        Dictionary(zip(backends.map(\.name), gates.map(\.waiting)), uniquingKeysWith: +)
    }

    /// Pairs waiting for their batch's `batch_window` to end (0 without batching).
    public var batchingPairs: Int { batching?.pendingPairs ?? 0 }

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
    ///
    /// A ``Priority/background`` call is not counted against `max_queue` (its chunks wait in the background lane
    /// instead, taking only what interactive calls leave free).
    public func score(
        query: String, documents: [String], settings: ScoreSettings, sendWithin: Duration? = nil, priority: Priority = .interactive,
        logger: Logger
    ) async -> Outcome {
        var outcome = Outcome(count: documents.count)
        // Interactive pairs are admitted against `max_queue` (one lock for that and the chunk size); background
        // ones wait in the lane instead.
        let counted = priority == .interactive
        let pairs = documents.count
        let (admitted, size) = state.withLock { state in
            guard counted else { return (true, state.batchLimit) }
            let limit = configuration.maxQueue.map { $0 + capacity * state.batchLimit }
            return (state.admit(pairs: pairs, limit: limit), state.batchLimit)
        }
        guard admitted else {
            logger.debug("pool queue full; shedding", metadata: ["rerank.model": "\(model)", "rerank.pairs": "\(pairs)"])
            observer?.shed(model: model, pairs: pairs)
            outcome.errors = Array(repeating: .overloaded(model: model), count: documents.count)
            return outcome
        }
        defer { if counted { state.withLock { $0.left(pairs: pairs) } } }
        let deadline = time.now + configuration.chunkTimeout
        let ranges = stride(from: 0, to: documents.count, by: size).map { $0..<min($0 + size, documents.count) }
        let job = Job(
            query: query, documents: documents, settings: settings, deadline: deadline, sendBy: sendWithin.map { time.now + $0 }, logger: logger,
            budget: configuration.bisectBudget, priority: priority
        )
        if ranges.count == 1 {
            merge(await scoreShared(ranges[0], job), into: &outcome)
            return outcome
        }
        await withTaskGroup(of: [Piece].self) { group in
            for range in ranges {
                group.addTask { await self.scoreShared(range, job) }
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
}
