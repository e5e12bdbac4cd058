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
        let result = await scoreChunk(Array(job.documents[range]), job, priority: job.priority)
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
    func scoreChunk(_ documents: [String], _ job: Job) async -> Result<BackendReply, BackendError> {
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
    func attempt(_ index: Int, _ documents: [String], _ job: Job, deadline: Duration) async -> Result<BackendReply, BackendError> {
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
    final class Flag: Sendable {
        private let value = Atomic(false)
        func set() { value.store(true, ordering: .releasing) }
        var isSet: Bool { value.load(ordering: .acquiring) }
    }
}
