import Synchronization

extension BackendPool {
    /// How urgent a ``BackendPool/score(query:documents:settings:sendWithin:priority:logger:)`` call is.
    public enum Priority: Sendable, Equatable {
        /// A client waits on it: sent as soon as a backend slot is free.
        case interactive
        /// Batch-job work: sent only into what interactive calls leave free, and at most
        /// ``Configuration/backgroundShare`` of the pool's concurrency.
        case background
    }

    /// Which background chunks may go to a backend now. Pure: the pool keeps it inside its ``StateMachine``
    /// (one lock) and resumes the waiters it hands back after releasing that lock.
    ///
    /// A background chunk goes when fewer than ``cap`` background chunks are out **and** the interactive chunks
    /// out plus the background ones leave a slot free of the pool's ``capacity``; otherwise it waits, in FIFO
    /// order, until a chunk of either kind finishes. Interactive chunks never wait here: the lane only holds
    /// background work back, so a job can take at most what interactive traffic leaves and never more than its share.
    /// ```swift
    /// var lane = BackgroundLane<Int>(capacity: 8, share: 0.5)   // cap 4
    /// lane.enter(waiter: 1)                    // .go
    /// ```
    struct BackgroundLane<Waiter> {
        enum Entry {
            case go
            case queued(id: Int)
        }

        /// Calls the pool may have in flight at once (Σ max_concurrency over its backends not refused by the canary).
        private(set) var capacity: Int
        /// The most background chunks out at once: `max(1, ⌊capacity × share⌋)`.
        private(set) var cap: Int
        private let share: Double
        /// Interactive chunks out now (waiting for a backend slot or in flight).
        private(set) var interactive = 0
        /// Interactive batches of `batch_window`, open (waiting for their window) or dispatched and unfinished: a
        /// miss waiting for its window is interactive demand too, so a job chunk does not take the slot it will need.
        private(set) var batched = 0
        /// The newest ``setBatched(_:version:)`` applied: the count is read under the batching lock and applied under
        /// this one, so an older reading arriving late is ignored instead of leaving a stale count behind.
        private var batchedVersion: UInt64 = 0
        /// Background chunks let through and not yet finished.
        private(set) var background = 0
        private var waiting: [(id: Int, waiter: Waiter)] = []
        private var nextID = 0

        init(capacity: Int, share: Double) {
            self.share = share.isFinite ? min(1, max(0, share)) : 0.5
            self.capacity = max(1, capacity)
            self.cap = max(1, Int((Double(self.capacity) * self.share).rounded(.down)))
        }

        /// The pool lost backends for good (refused by the canary): its capacity, and so the cap, shrink with them, so
        /// jobs keep to their share of the backends that can still answer. Chunks already out finish as they are.
        mutating func shrink(capacity: Int) {
            self.capacity = max(1, min(self.capacity, capacity))
            cap = max(1, Int((Double(self.capacity) * share).rounded(.down)))
        }

        /// Background chunks waiting for their turn.
        var waitingCount: Int { waiting.count }

        private var roomForBackground: Bool { background < cap && interactive + batched + background < capacity }

        /// A background chunk asks to go; when it must wait, `waiter` is kept and handed back by a later call.
        mutating func enter(waiter: Waiter) -> Entry {
            if waiting.isEmpty, roomForBackground {
                background += 1
                return .go
            }
            defer { nextID += 1 }
            waiting.append((nextID, waiter))
            return .queued(id: nextID)
        }

        /// A background chunk finished; returns the waiters that may go now.
        mutating func backgroundFinished() -> [Waiter] {
            precondition(background > 0, "finished a background chunk that was not let through")
            background -= 1
            return admitWaiting()
        }

        /// An interactive chunk starts: counted at once, never held back.
        mutating func interactiveStarted() {
            interactive += 1
        }

        /// An interactive chunk finished; returns the background waiters that may go now.
        mutating func interactiveFinished() -> [Waiter] {
            precondition(interactive > 0, "finished an interactive chunk that did not start")
            interactive -= 1
            return admitWaiting()
        }

        /// The batching assembler's open plus unfinished batches, as read at `version` (increasing); returns the
        /// background waiters that may go now.
        mutating func setBatched(_ count: Int, version: UInt64) -> [Waiter] {
            guard version > batchedVersion else { return [] }
            batchedVersion = version
            batched = max(0, count)
            return admitWaiting()
        }

        /// A waiting chunk gave up (its task was cancelled); returns its waiter when it was still waiting.
        mutating func cancel(id: Int) -> Waiter? {
            guard let index = waiting.firstIndex(where: { $0.id == id }) else { return nil }
            return waiting.remove(at: index).waiter
        }

        private mutating func admitWaiting() -> [Waiter] {
            var ready: [Waiter] = []
            while !waiting.isEmpty, roomForBackground {
                background += 1
                ready.append(waiting.removeFirst().waiter)
            }
            return ready
        }
    }

    // MARK: - Running a chunk at its priority

    /// Runs one chunk at its job's priority: a background chunk first waits for the lane; interactive ones are counted.
    func scoreInLane(_ documents: [String], _ job: Job) async -> Result<BackendReply, BackendError> {
        guard job.priority == .background else { return await countedInteractive { await scoreChunk(documents, job) } }
        guard await enterBackgroundLane() else { return .failure(.localQueueTimeout(backend: model)) }
        defer { resume(state.withLock { $0.lane.backgroundFinished() }) }
        // Time spent waiting for the lane is not the backend's: the chunk's deadline starts when it may go.
        var job = job
        job.deadline = time.now + configuration.chunkTimeout
        return await scoreChunk(documents, job)
    }

    /// Runs an interactive call (a request's own chunk or a shared batch), counted so background calls leave it room.
    func countedInteractive<T>(_ call: () async -> T) async -> T {
        state.withLock { $0.lane.interactiveStarted() }
        defer { resume(state.withLock { $0.lane.interactiveFinished() }) }
        return await call()
    }

    /// Waits for the background lane; `false` when the task was cancelled first.
    private func enterBackgroundLane() async -> Bool {
        let id = Mutex<Int?>(nil)
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                let entry = state.withLock { $0.lane.enter(waiter: continuation) }
                switch entry {
                case .go: continuation.resume(returning: true)
                case .queued(let queued):
                    id.withLock { $0 = queued }
                    if Task.isCancelled, let waiter = state.withLock({ $0.lane.cancel(id: queued) }) { waiter.resume(returning: false) }
                }
            }
        } onCancel: {
            guard let queued = id.withLock({ $0 }) else { return }
            state.withLock { $0.lane.cancel(id: queued) }?.resume(returning: false)
        }
    }

    func resume(_ waiters: [CheckedContinuation<Bool, Never>]) {
        for waiter in waiters { waiter.resume(returning: true) }
    }
}
