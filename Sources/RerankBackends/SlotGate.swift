import Synchronization

/// An async semaphore: at most `limit` calls hold a slot at once, the rest wait in FIFO order.
///
/// ```swift
/// try await gate.acquire()      // throws CancellationError if the task is cancelled while waiting
/// defer { gate.release() }
/// ```
/// The pool gives each backend one gate sized like the HTTP client's per-host connection limit, so time
/// spent waiting for a local connection is measured here, outside the backend's deadline accounting, and
/// never counts against the backend's health.
final class SlotGate: Sendable {
    private struct State {
        var available: Int
        var nextID = 0
        var waiters: [(id: Int, continuation: CheckedContinuation<Void, any Error>)] = []
        var cancelled: Set<Int> = []
    }

    /// Protected by its own lock; continuations are resumed after it is released.
    private let state: Mutex<State>

    init(limit: Int) {
        state = Mutex(State(available: max(1, limit)))
    }

    func acquire() async throws {
        let id: Int? = state.withLock { state in
            if state.available > 0 {
                state.available -= 1
                return nil
            }
            defer { state.nextID += 1 }
            return state.nextID
        }
        guard let id else { return }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                // A release() between taking the id and queueing here found no waiter and freed a slot: take
                // it now rather than wait for a wake-up that will not come.
                enum Next { case cancelled, admitted, queued }
                let next: Next = state.withLock { state in
                    if state.cancelled.remove(id) != nil { return .cancelled }
                    if state.available > 0 {
                        state.available -= 1
                        return .admitted
                    }
                    state.waiters.append((id, continuation))
                    return .queued
                }
                switch next {
                case .cancelled: continuation.resume(throwing: CancellationError())
                case .admitted: continuation.resume()
                case .queued: break
                }
            }
        } onCancel: {
            let waiter: CheckedContinuation<Void, any Error>? = state.withLock { state in
                if let index = state.waiters.firstIndex(where: { $0.id == id }) {
                    return state.waiters.remove(at: index).continuation
                }
                state.cancelled.insert(id)
                return nil
            }
            waiter?.resume(throwing: CancellationError())
        }
    }

    /// Calls waiting for a slot now.
    var waiting: Int { state.withLock { $0.waiters.count } }

    func release() {
        let next: CheckedContinuation<Void, any Error>? = state.withLock { state in
            if state.waiters.isEmpty {
                state.available += 1
                return nil
            }
            return state.waiters.removeFirst().continuation
        }
        next?.resume()
    }
}
