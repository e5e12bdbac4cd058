import Synchronization

/// Runs an operation against a deadline without waiting for the operation to notice it.
///
/// ```swift
/// let reply = await Deadline.race(sleep: { try await time.sleep(until: deadline) }) { await call() }
/// // nil: the deadline passed first; the call's task was cancelled and is left to finish on its own
/// ```
/// The operation runs in a task of its own and is cancelled when the deadline wins, so one that ignores
/// cancellation (a stalled body read) cannot keep the caller waiting: the caller is answered at the deadline.
/// Cancelling the caller's task counts as the deadline passing.
public enum Deadline {
    public static func race<T: Sendable>(
        sleep: @escaping @Sendable () async throws -> Void,
        operation: @escaping @Sendable () async -> T
    ) async -> T? {
        let race = Race<T>()
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<T?, Never>) in
                race.start(continuation)
                let work = Task { race.finish(await operation()) }
                let timer = Task {
                    // A cancelled sleep means the operation won and cancelled the timer: nothing to report.
                    guard (try? await sleep()) != nil else { return }
                    race.finish(nil)
                }
                race.attach([work, timer])
            }
        } onCancel: {
            race.finish(nil)
        }
    }

    /// Who finished first; resumes the caller exactly once and cancels whatever is still running.
    private final class Race<T: Sendable>: Sendable {
        private struct State {
            var continuation: CheckedContinuation<T?, Never>?
            var finished: T??
            var tasks: [Task<Void, Never>] = []
            var done = false
        }

        /// Protected by its own lock; continuations are resumed and tasks cancelled after it is released.
        private let state = Mutex(State())

        func start(_ continuation: CheckedContinuation<T?, Never>) {
            let early: T?? = state.withLock { state in
                if let finished = state.finished { return finished }
                state.continuation = continuation
                return nil
            }
            if let early { continuation.resume(returning: early) }
        }

        func attach(_ tasks: [Task<Void, Never>]) {
            let cancelNow = state.withLock { state in
                if state.done { return true }
                state.tasks = tasks
                return false
            }
            if cancelNow { for task in tasks { task.cancel() } }
        }

        func finish(_ value: T?) {
            let (continuation, tasks): (CheckedContinuation<T?, Never>?, [Task<Void, Never>]) = state.withLock { state in
                guard !state.done else { return (nil, []) }
                state.done = true
                let continuation = state.continuation
                state.continuation = nil
                if continuation == nil { state.finished = .some(value) }
                let tasks = state.tasks
                state.tasks = []
                return (continuation, tasks)
            }
            continuation?.resume(returning: value)
            for task in tasks { task.cancel() }
        }
    }
}
