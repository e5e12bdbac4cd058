/// When to retry a call to the proxy, and after how long: pure, so every rule is a unit test.
///
/// 429 and 503 (overloaded, shedding, draining), 502 and 504 (a backend's fault or timeout) and connection
/// errors are retried with exponential backoff (`base` doubling up to `cap`), honouring `Retry-After` (in
/// seconds) when the server sends one, up to `maxAttempts` calls in all. Every other status is final.
public struct RetryPolicy: Sendable, Equatable {
    public var maxAttempts: Int
    public var base: Duration
    public var cap: Duration

    public init(maxAttempts: Int = 8, base: Duration = .milliseconds(500), cap: Duration = .seconds(30)) {
        self.maxAttempts = maxAttempts
        self.base = base
        self.cap = cap
    }

    /// What one call ended in.
    public enum Outcome: Sendable, Equatable {
        case status(Int, retryAfter: String?)
        case connectionError
    }

    /// How long to wait before call number `attempt + 1`, given that call `attempt` (1-based) ended in
    /// `outcome`; `nil` when the outcome is final (success, a client error) or the attempts are used up.
    public func delay(after outcome: Outcome, attempt: Int) -> Duration? {
        switch outcome {
        case .status(let code, _) where ![429, 502, 503, 504].contains(code): return nil
        default: break
        }
        guard attempt < maxAttempts else { return nil }
        if case .status(_, let header?) = outcome, let seconds = Double(header.filter { $0 != " " }), seconds >= 0 {
            return min(.milliseconds(Int64(seconds * 1000)), cap * 4)
        }
        var delay = base
        for _ in 1..<max(1, attempt) where delay < cap { delay = delay * 2 }
        return min(delay, cap)
    }
}
