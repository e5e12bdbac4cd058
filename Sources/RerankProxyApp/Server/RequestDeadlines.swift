/// The deadlines of one HTTP/1 connection, as a pure state machine: whole head within `header_timeout`, whole body
/// within `body_timeout`, and closing after a response that says `Connection: close`.
///
/// ``RequestDeadlineHandler`` feeds it the connection's events and runs the returned ``Action``. It never sees time:
/// the handler arms one timer per ``Action/arm(_:)`` and closes the connection when it fires.
///
/// ```swift
/// var deadlines = RequestDeadlines()
/// deadlines.connectionOpened()   // .arm(.header)
/// deadlines.requestHead()        // .arm(.body)
/// deadlines.requestEnd()         // .disarm: the handler is working, no client deadline
/// deadlines.responseEnd(closeConnection: false)   // .disarm: idle; Hummingbird's idle timeout takes over
/// ```
struct RequestDeadlines: Equatable {
    enum Timer: Equatable {
        /// The head of the current request must be complete (`server.header_timeout`).
        case header
        /// The body of the current request must be complete (`server.body_timeout`).
        case body
        /// A connection whose output is closed reads and drops what the client still sends, this long at most.
        case linger
    }

    enum Action: Equatable {
        case none
        /// Cancel any armed timer and arm this one.
        case arm(Timer)
        /// Cancel any armed timer.
        case disarm
        /// After this response part is written: close the output (the client reads the answer, then EOF), then linger.
        case closeOutputThenLinger
    }

    enum Phase: Equatable {
        /// Waiting for (the rest of) a request head; the header timer runs.
        case head
        /// Reading a request body; the body timer runs.
        case body
        /// The request is read and being answered; no client deadline.
        case answering
        /// Between requests on a keep-alive connection; no timer here (Hummingbird's `idleTimeout` applies).
        case idle
        /// The last answer said `Connection: close`: inbound data is dropped until the client closes or the linger timer.
        case closing
    }

    private(set) var phase = Phase.head
    /// Request heads read minus responses finished (more than one only when the client pipelines).
    private(set) var unanswered = 0
    /// Bytes arrived while answering: a pipelined request has begun, so the header timer starts when the answer ends.
    private var bytesWhileAnswering = false

    /// The connection is open: the first request head must arrive within `header_timeout`, as in nginx.
    func connectionOpened() -> Action {
        phase == .head ? .arm(.header) : .none
    }

    /// Bytes arrived from the client, before HTTP decoding.
    mutating func bytesReceived() -> Action {
        switch phase {
        case .idle:
            phase = .head
            return .arm(.header)
        case .answering:
            bytesWhileAnswering = true
            return .none
        case .head, .body, .closing:
            return .none
        }
    }

    /// A request head was decoded.
    mutating func requestHead() -> Action {
        guard phase != .closing else { return .none }
        unanswered += 1
        phase = .body
        return .arm(.body)
    }

    /// A request's end was decoded.
    mutating func requestEnd() -> Action {
        guard phase != .closing else { return .none }
        // The answer may already be out (a 404 written before the body was drained): then the connection is idle.
        phase = unanswered > 0 ? .answering : .idle
        return .disarm
    }

    /// A response's end is being written; `closeConnection` when its head carried `Connection: close`.
    mutating func responseEnd(closeConnection: Bool) -> Action {
        guard phase != .closing else { return .none }
        unanswered = max(0, unanswered - 1)
        if closeConnection {
            phase = .closing
            return .closeOutputThenLinger
        }
        guard unanswered == 0, phase == .answering else { return .none }
        if bytesWhileAnswering {
            bytesWhileAnswering = false
            phase = .head
            return .arm(.header)
        }
        phase = .idle
        return .disarm
    }

    /// Whether decoded request parts should still be passed on; in ``Phase/closing`` they are dropped.
    var forwardsRequestParts: Bool { phase != .closing }
}
