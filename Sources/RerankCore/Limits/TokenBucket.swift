/// A token bucket: `capacity` tokens, refilled at `perSecond`; each admitted request takes one. Pure: time
/// is passed in as a `Duration` since any fixed origin.
///
/// ```swift
/// var bucket = TokenBucket(capacity: 400, perSecond: 200, now: time.now)
/// switch bucket.take(now: time.now) { case .admitted: …; case .limited(let retryAfter): … }
/// ```
public struct TokenBucket: Sendable, Equatable {
    public enum Decision: Sendable, Equatable {
        case admitted
        /// Refused; a token will be there after `retryAfter`.
        case limited(retryAfter: Duration)
    }

    public let capacity: Double
    public let perSecond: Double
    public private(set) var tokens: Double
    private var last: Duration

    public init(capacity: Int, perSecond: Double, now: Duration) {
        self.capacity = Double(max(1, capacity))
        self.perSecond = perSecond
        self.tokens = self.capacity
        self.last = now
    }

    public mutating func take(_ count: Double = 1, now: Duration) -> Decision {
        if now > last {
            let elapsed = Double((now - last).components.seconds) + Double((now - last).components.attoseconds) / 1e18
            tokens = min(capacity, tokens + elapsed * perSecond)
            last = now
        }
        if tokens >= count {
            tokens -= count
            return .admitted
        }
        let missing = count - tokens
        return .limited(retryAfter: .milliseconds(Int64((missing / perSecond * 1000).rounded(.up))))
    }
}
