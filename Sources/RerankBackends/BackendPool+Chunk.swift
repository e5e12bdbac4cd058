import Logging
import RerankCore
import Synchronization

/// One chunk of a ``BackendPool/score(query:documents:settings:logger:)`` call: its attempts, deadlines and
/// the bisection of refused chunks.
extension BackendPool {
    // MARK: - One chunk

    /// The inputs every chunk of one ``score(query:documents:settings:logger:)`` call shares.
    struct Job: Sendable {
        var query: String
        var documents: [String]
        var settings: ScoreSettings
        var deadline: Duration
        /// No chunk is sent after this (the client's own deadline); `nil`: no such limit.
        var sendBy: Duration?
        var logger: Logger
        let budget: BisectBudget
        var priority: Priority

        init(
            query: String, documents: [String], settings: ScoreSettings, deadline: Duration, sendBy: Duration?, logger: Logger, budget: Int,
            priority: Priority = .interactive
        ) {
            self.priority = priority
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
    final class BisectBudget: Sendable {
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
    struct Piece: Sendable {
        var range: Range<Int>
        var result: Result<BackendReply, BackendError>
    }

    func merge(_ pieces: [Piece], into outcome: inout Outcome) {
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
    func scoreRange(_ range: Range<Int>, _ job: Job) async -> [Piece] {
        let result = await scoreInLane(Array(job.documents[range]), job)
        guard case .failure(let error) = result, error.isRefusal else { return [Piece(range: range, result: result)] }
        return await splitRefused(range, job, error: error)
    }

    /// A range the backend refused: its halves are scored apart (within the job's bisect budget), so only the
    /// refused documents fail.
    func splitRefused(_ range: Range<Int>, _ job: Job, error: BackendError) async -> [Piece] {
        guard range.count > 1, job.budget.take(2) else { return [Piece(range: range, result: .failure(error))] }
        let middle = range.lowerBound + range.count / 2
        async let left = scoreRange(range.lowerBound..<middle, job)
        async let right = scoreRange(middle..<range.upperBound, job)
        return await left + right
    }

    /// Tries the chunk on the backend ``StateMachine/pick(now:pairs:excluding:)`` chooses, then on the next
    /// untried one, until one answers, a non-retryable error, the chunk's deadline, or `retries` other backends.
    func scoreChunk(_ documents: [String], _ job: Job) async -> Result<BackendReply, BackendError> {
        await scoreCall(pairs: documents.count, sendBy: job.sendBy, deadline: job.deadline, logger: job.logger) { backend in
            do throws(BackendError) {
                let reply = try await backend.score(query: job.query, documents: documents, settings: job.settings, logger: job.logger)
                return .success(Sent(reply: try Self.validated(reply, count: documents.count, backend: backend.name), pairs: documents.count, requests: 1))
            } catch {
                return .failure(error)
            }
        }
        .map(\.reply)
    }

    /// What one sent call answered: the validated reply, the shared-call entries it carried (empty for a request's
    /// own chunk), the pairs and how many client requests they came from.
    struct Sent: Sendable {
        var reply: BackendReply
        var entries: [BatchEntry] = []
        var pairs: Int
        var requests: Int
    }

    /// One backend call with failover: the picked backend, then the next untried one, until one answers, a
    /// non-retryable error, `deadline`, or ``Configuration/retries`` other backends have been tried.
    func scoreCall(
        pairs: Int, sendBy: Duration?, deadline: Duration, logger: Logger,
        send: @escaping @Sendable (any BackendClient) async -> Result<Sent, BackendError>
    ) async -> Result<Sent, BackendError> {
        var tried: Set<Int> = []
        var lastError: BackendError?
        while true {
            let start = time.now
            if let sendBy, start >= sendBy { return .failure(lastError ?? .clientDeadline(model: model)) }
            if let retries = configuration.retries, tried.count > retries { break }
            guard start < deadline, let index = state.withLock({ $0.pick(now: start, pairs: pairs, excluding: tried) }) else { break }
            let retry = !tried.isEmpty
            tried.insert(index)
            let backend = backends[index]
            let result = await attempt(index, sendBy: sendBy, deadline: min(deadline, start + backend.timeout), send: send)
            state.withLock { $0.finished(index, pairs: pairs) }
            let duration = time.now - start
            switch result {
            case .success(let sent):
                observer?.backendCall(
                    model: model, backend: backend.name, pairs: sent.pairs, duration: duration, error: nil, requests: sent.requests, retry: retry
                )
                let event = state.withLock { $0.succeeded(index) }
                if event != .none { logger.info("backend recovered", metadata: ["rerank.backend": "\(backend.name)", "rerank.model": "\(model)"]) }
                return .success(sent)
            case .failure(let error):
                lastError = error
                switch error {
                case .localQueueTimeout, .clientDeadline: return .failure(error)
                default: break
                }   // our own congestion, not the backend's fault
                observer?.backendCall(model: model, backend: backend.name, pairs: pairs, duration: duration, error: error, requests: 1, retry: retry)
                guard error.isRetryable else { return .failure(error) }
                let event = state.withLock { $0.failed(index, now: time.now) }
                if case .ejected = event {
                    logger.warning("backend ejected", metadata: ["rerank.backend": "\(backend.name)", "rerank.model": "\(model)", "error.type": "\(error)"])
                } else {
                    logger.debug("backend call failed; trying the next", metadata: ["rerank.backend": "\(backend.name)", "error.type": "\(error)"])
                }
            }
        }
        return .failure(lastError ?? .timeout(backend: model))
    }

    /// The reply checked to hold one finite score per pair sent.
    static func validated(_ reply: BackendReply, count: Int, backend: String) throws(BackendError) -> BackendReply {
        guard reply.scores.count == count else {
            throw .invalidResponse(backend: backend, reason: "expected \(count) scores, got \(reply.scores.count)")
        }
        guard reply.scores.allSatisfy(\.isFinite) else { throw .invalidResponse(backend: backend, reason: "a score is not a finite number") }
        return reply
    }

    /// One call to one backend under `deadline`: waits for a local slot, then lets `send` build and send the call.
    func attempt(
        _ index: Int, sendBy: Duration?, deadline: Duration, send: @escaping @Sendable (any BackendClient) async -> Result<Sent, BackendError>
    ) async -> Result<Sent, BackendError> {
        let backend = backends[index]
        let gate = gates[index]
        let admitted = Flag()
        let time = self.time
        let model = self.model
        let result = await Deadline.race(sleep: { try await time.sleep(until: deadline) }) { () -> Result<Sent, BackendError> in
            do { try await gate.acquire() } catch { return .failure(.localQueueTimeout(backend: backend.name)) }
            defer { gate.release() }
            // The client gave up while this chunk waited for a slot: do not send it.
            if let sendBy, time.now >= sendBy { return .failure(.clientDeadline(model: model)) }
            admitted.set()
            return await send(backend)
        }
        return result ?? .failure(admitted.isSet ? .timeout(backend: backend.name) : .localQueueTimeout(backend: backend.name))
    }

    /// Set once, read from another task.
    final class Flag: Sendable {
        private let value = Atomic(false)
        func set() { value.store(true, ordering: .releasing) }
        var isSet: Bool { value.load(ordering: .acquiring) }
    }
}
