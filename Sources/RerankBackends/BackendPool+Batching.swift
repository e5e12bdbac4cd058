import Logging
import RerankCore
import Synchronization

/// The IO around ``BatchAssembler``: chunks of different requests wait here to share one backend call, and
/// each gets its own pieces back. Every decision (what shares a call, when it goes) is the assembler's.
extension BackendPool {
    /// What may share a call: equal settings and, unless every backend takes pairs of different queries in one
    /// call (`api: vllm`), the same query.
    struct BatchGroup: Hashable, Sendable {
        var settings: ScoreSettings
        var query: String?
    }

    /// One request's chunk waiting for, or riding in, a shared call.
    struct BatchEntry: Sendable {
        var id: Int
        var job: Job
        var range: Range<Int>
        var continuation: CheckedContinuation<[Piece], Never>

        var documents: ArraySlice<String> { job.documents[range] }

        func resume(_ pieces: [Piece]) { continuation.resume(returning: pieces) }
    }

    final class Batching: Sendable {
        struct State {
            var assembler: BatchAssembler<BatchGroup>
            /// Entries not yet handed to a call, by id.
            var entries: [Int: BatchEntry] = [:]
            var nextEntry = 0
            /// Advanced by every ``demand()`` reading, so the background lane applies them in order.
            var demandVersion: UInt64 = 0

            /// The assembler's interactive demand now (open + unfinished batches), for the background lane.
            mutating func demand() -> (count: Int, version: UInt64) {
                demandVersion += 1
                return (assembler.outstanding, demandVersion)
            }
        }

        let state: Mutex<State>
        let mixedQueries: Bool

        init(window: Duration, maxBatch: Int, mixedQueries: Bool) {
            self.mixedQueries = mixedQueries
            state = Mutex(State(assembler: BatchAssembler(window: window, maxBatch: maxBatch)))
        }

        /// Pairs waiting for their batch's window to end.
        var pendingPairs: Int { state.withLock { $0.assembler.pendingPairs } }
    }

    /// Healthy backends now, the assembler's measure of idle capacity.
    private var healthyCount: Int {
        let now = time.now
        return state.withLock { state in backends.indices.count { state.isHealthy($0, now: now) } }
    }

    /// Scores one chunk of a request, sharing a backend call with other requests' chunks when batching is on.
    func scoreShared(_ range: Range<Int>, _ job: Job) async -> [Piece] {
        // Job (background) chunks are large and wait for the background lane: they never share an interactive call.
        guard let batching, job.priority == .interactive else { return await scoreRange(range, job) }
        let group = BatchGroup(settings: job.settings, query: batching.mixedQueries ? nil : job.query)
        let healthy = healthyCount
        let now = time.now
        return await withCheckedContinuation { (continuation: CheckedContinuation<[Piece], Never>) in
            let (plan, demand) = batching.state.withLock { state in
                let id = state.nextEntry
                state.nextEntry += 1
                state.entries[id] = BatchEntry(id: id, job: job, range: range, continuation: continuation)
                return (state.assembler.enqueue(id: id, group: group, pairs: range.count, now: now, healthy: healthy), state.demand())
            }
            interactiveDemand(demand)
            if let expires = plan.expires, let batching = self.batching {
                // A batch opened that nothing has sent yet: end its window on time.
                let time = self.time
                Task {
                    try? await time.sleep(until: expires)
                    let healthy = self.healthyCount
                    let (expired, demand) = batching.state.withLock { state in
                        (state.assembler.expire(now: time.now, healthy: healthy), state.demand())
                    }
                    self.interactiveDemand(demand)
                    self.launch(expired)
                }
            }
            launch(plan.dispatched)
        }
    }

    /// Tells the background lane how many batches hold interactive misses (waiting for their window, or sent and
    /// not finished), so a job chunk never takes the slot a waiting interactive batch is about to need.
    private func interactiveDemand(_ demand: (count: Int, version: UInt64)) {
        resume(state.withLock { $0.lane.setBatched(demand.count, version: demand.version) })
    }

    private func launch(_ batches: [BatchAssembler<BatchGroup>.Batch]) {
        for batch in batches {
            Task { await self.run(batch) }
        }
    }

    /// Sends one dispatched batch (with failover), answers each of its requests, and lets an idle backend take the next.
    private func run(_ batch: BatchAssembler<BatchGroup>.Batch) async {
        guard let batching else { return }
        let first = batching.state.withLock { state in batch.entries.compactMap { state.entries[$0] } }
        let call = SharedCall(pool: self, batchID: batch.id)
        // The chunk deadline of the earliest request in it: the window is short, so the others lose little.
        let deadline = first.map(\.job.deadline).min() ?? time.now + configuration.chunkTimeout
        let logger = first.first?.job.logger ?? Logger(label: "rerank.pool")
        // Counted as interactive demand from the moment its batch opened until `finished` below (``interactiveDemand``).
        await call.finish(
            await scoreCall(pairs: batch.pairs, sendBy: nil, deadline: deadline, logger: logger) { backend in await call.send(on: backend) }
        )
        let healthy = healthyCount
        let (next, demand) = batching.state.withLock { state in (state.assembler.finished(batch.id, healthy: healthy), state.demand()) }
        interactiveDemand(demand)
        launch(next)
    }

    /// Scores entries that were refused together again, in halves, so only the request with the refused document
    /// fails; a single entry is bisected within its own request's budget, as without batching.
    private func rescore(_ entries: [BatchEntry]) async {
        if entries.count == 1, let entry = entries.first {
            entry.resume(await scoreRange(entry.range, entry.job))
            return
        }
        let middle = entries.count / 2
        async let left: Void = rescoreTogether(Array(entries[..<middle]))
        async let right: Void = rescoreTogether(Array(entries[middle...]))
        _ = await (left, right)
    }

    private func rescoreTogether(_ entries: [BatchEntry]) async {
        guard entries.count > 1 else { return await rescore(entries) }
        let call = SharedCall(pool: self, entries: entries)
        let pairs = entries.reduce(0) { $0 + $1.range.count }
        let deadline = entries.map(\.job.deadline).min() ?? time.now + configuration.chunkTimeout
        await call.finish(
            await countedInteractive {
                await scoreCall(pairs: pairs, sendBy: nil, deadline: deadline, logger: entries[0].job.logger) { backend in await call.send(on: backend) }
            }
        )
    }

    /// One shared call's entries: sealed when the first attempt holds a backend slot, narrowed to the requests
    /// whose deadline has not passed before each attempt, and answered exactly once.
    final class SharedCall: Sendable {
        private struct State {
            /// Entries still to answer; `nil` until sealed.
            var entries: [BatchEntry]?
            var closed = false
        }

        private let state: Mutex<State>
        private let pool: BackendPool
        private let batchID: Int?

        init(pool: BackendPool, batchID: Int) {
            self.pool = pool
            self.batchID = batchID
            state = Mutex(State())
        }

        init(pool: BackendPool, entries: [BatchEntry]) {
            self.pool = pool
            self.batchID = nil
            state = Mutex(State(entries: entries))
        }

        /// Takes the batch's final entries from the assembler (no more may join). Called with the lock held.
        private func sealed(_ state: inout State) -> [BatchEntry] {
            if let entries = state.entries { return entries }
            var entries: [BatchEntry] = []
            if let batchID, let batching = pool.batching {
                entries = batching.state.withLock { shared in
                    (shared.assembler.seal(batchID)?.entries ?? []).compactMap { shared.entries.removeValue(forKey: $0) }
                }
            }
            state.entries = entries
            return entries
        }

        /// Builds and sends the call for the entries still waiting; those whose client deadline passed are
        /// answered ``BackendError/clientDeadline(model:)`` now and not sent.
        func send(on backend: any BackendClient) async -> Result<Sent, BackendError> {
            do throws(BackendError) {
                return .success(try await sendLive(on: backend))
            } catch {
                return .failure(error)
            }
        }

        private func sendLive(on backend: any BackendClient) async throws(BackendError) -> Sent {
            let now = pool.time.now
            let model = pool.model
            let (live, expired, closed): ([BatchEntry], [BatchEntry], Bool) = state.withLock { state in
                guard !state.closed else { return ([], [], true) }
                let entries = sealed(&state)
                let live = entries.filter { entry in entry.job.sendBy.map { now < $0 } ?? true }
                let expired = entries.filter { entry in entry.job.sendBy.map { now >= $0 } ?? false }
                state.entries = live
                return (live, expired, false)
            }
            for entry in expired { entry.resume([Piece(range: entry.range, result: .failure(.clientDeadline(model: model)))]) }
            guard !closed, let first = live.first else { throw .clientDeadline(model: model) }
            let documents = live.flatMap(\.documents)
            let settings = first.job.settings
            let reply: BackendReply
            if live.allSatisfy({ $0.job.query == first.job.query }) {
                reply = try await backend.score(query: first.job.query, documents: documents, settings: settings, logger: first.job.logger)
            } else {
                let queries = live.flatMap { entry in repeatElement(entry.job.query, count: entry.range.count) }
                reply = try await backend.score(queries: queries, documents: documents, settings: settings, logger: first.job.logger)
            }
            let checked = try BackendPool.validated(reply, count: documents.count, backend: backend.name)
            return Sent(reply: checked, entries: live, pairs: documents.count, requests: live.count)
        }

        /// Answers every entry from the call's result: its own scores, the call's error, or (when the backend
        /// refused the documents of several requests) a rescore in halves so only the offending request fails.
        func finish(_ result: Result<Sent, BackendError>) async {
            let entries = state.withLock { state in
                state.closed = true
                let entries = sealed(&state)
                state.entries = []
                return entries
            }
            switch result {
            case .success(let call):
                let (reply, sent) = (call.reply, call.entries)
                // The attempt that answered sent exactly the entries still waiting (an attempt drops only expired ones).
                let total = max(1, reply.scores.count)
                let waiting = Set(entries.map(\.id))
                var offset = 0
                for entry in sent {
                    defer { offset += entry.range.count }
                    guard waiting.contains(entry.id) else { continue }   // answered already (its deadline passed)
                    let scores = Array(reply.scores[offset..<offset + entry.range.count])
                    let tokens = reply.tokens * entry.range.count / total
                    entry.resume([Piece(range: entry.range, result: .success(BackendReply(scores: scores, tokens: tokens)))])
                }
            case .failure(let error) where error.isRefusal && entries.count > 1:
                await pool.rescore(entries)
            case .failure(let error) where error.isRefusal && entries.count == 1:
                entries[0].resume(await pool.splitRefused(entries[0].range, entries[0].job, error: error))
            case .failure(let error):
                for entry in entries { entry.resume([Piece(range: entry.range, result: .failure(error))]) }
            }
        }
    }
}
