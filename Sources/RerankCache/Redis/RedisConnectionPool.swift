import Logging
import NIOPosix
import RerankCore
import Synchronization

/// A bounded pool of blocking hiredis connections whose commands all run on `NIOThreadPool.singleton`.
///
/// Each ``RedisConnectionHandle`` is leased to one thread-pool job at a time; at most `size` exist. A command
/// that fails (IO error, timeout) frees its connection and marks the pool *down*: from then on callers get
/// ``CacheError`` at once, without IO, except one probe per backoff interval (doubling from `minBackoff` to
/// `maxBackoff`) that tries to reconnect. The first successful probe marks it up again. Each transition is
/// logged once (warning when it goes down, info when it is back), never once per request.
/// ```swift
/// let pool = RedisConnectionPool(configuration: .init(endpoint: try RedisEndpoint(url: url)), logger: logger)
/// let replies = try await pool.withConnection { try $0.pipeline([[Array("PING".utf8)]]) }
/// ```
public final class RedisConnectionPool: Sendable {
    public struct Configuration: Sendable {
        public var endpoint: RedisEndpoint
        /// Most connections open at once.
        public var size: Int
        /// Per connect and per command; a slower server counts as down.
        public var timeout: Duration
        public var minBackoff: Duration
        public var maxBackoff: Duration

        public init(
            endpoint: RedisEndpoint, size: Int = 8, timeout: Duration = .milliseconds(50),
            minBackoff: Duration = .milliseconds(100), maxBackoff: Duration = .seconds(2)
        ) {
            self.endpoint = endpoint
            self.size = max(1, size)
            self.timeout = timeout
            self.minBackoff = minBackoff
            self.maxBackoff = max(minBackoff, maxBackoff)
        }
    }

    public let configuration: Configuration
    private let logger: Logger
    private let time: TimeSource
    /// Protected by its own lock; held only to move handles and flip state, never across IO or logging.
    private let state: Mutex<State>

    public init(configuration: Configuration, time: TimeSource = .continuous, logger: Logger) {
        self.configuration = configuration
        self.time = time
        self.logger = logger
        self.state = Mutex(State(size: configuration.size, minBackoff: configuration.minBackoff, maxBackoff: configuration.maxBackoff))
    }

    /// Why the pool is down (the last error), or `nil` while Redis answers; no IO.
    public var downReason: String? { state.withLock { $0.down?.reason } }

    /// Runs `body` on the thread pool with a leased connection.
    /// - Throws: ``CacheError/query(reason:)`` when the pool is down, or the connection or `body` failed
    ///   (the connection is then closed and the pool marked down).
    func withConnection<T: Sendable>(
        _ body: @escaping @Sendable (RedisConnectionHandle) throws -> T
    ) async throws(CacheError) -> T {
        let handle: RedisConnectionHandle
        switch await lease() {
        case .unavailable(let reason):
            throw .query(reason: "redis unreachable: \(reason)")
        case .handle(let leased):
            handle = leased
        case .connect:
            let endpoint = configuration.endpoint
            let timeout = configuration.timeout
            do {
                handle = try await NIOThreadPool.singleton.runIfActive { try RedisConnectionHandle.connect(to: endpoint, timeout: timeout) }
            } catch {
                let reason = (error as? CacheError).map(Self.reason) ?? "\(error)"
                report(state.withLock { $0.connectFailed(reason, now: time.now) })
                throw .query(reason: "redis unreachable: \(reason)")
            }
            report(state.withLock { $0.connected() })
        }
        do {
            let result = try await NIOThreadPool.singleton.runIfActive { try body(handle) }
            giveBack(handle)
            return result
        } catch {
            handle.close()
            let reason = (error as? CacheError).map(Self.reason) ?? "\(error)"
            report(state.withLock { $0.broken(reason, now: time.now) })
            throw .query(reason: reason)
        }
    }

    /// Closes the idle connections (on shutdown, after the last flush).
    public func close() {
        let idle = state.withLock { $0.drainIdle() }
        for handle in idle { handle.close() }
    }

    // MARK: - Leasing

    private func lease() async -> State.Lease {
        let now = time.now
        let immediate = state.withLock { $0.lease(now: now) }
        if let immediate { return immediate }
        // Every connection is leased: wait for one to come back (each command is bounded by the timeout).
        return await withCheckedContinuation { continuation in
            let lease = state.withLock { state -> State.Lease? in
                if let lease = state.lease(now: now) { return lease }
                state.waiters.append(continuation)
                return nil
            }
            if let lease { continuation.resume(returning: lease) }
        }
    }

    private func giveBack(_ handle: RedisConnectionHandle) {
        if let waiter = state.withLock({ $0.giveBack(handle) }) { waiter.resume(returning: .handle(handle)) }
    }

    private func report(_ transition: State.Transition) {
        for waiter in transition.waiters { waiter.resume(returning: .unavailable(transition.wentDown ?? "redis unreachable")) }
        for handle in transition.closed { handle.close() }
        if let reason = transition.wentDown {
            logger.warning("redis unreachable; lookups are misses and scores are queued until it is back", metadata: [
                "rerank.cache.tier": "redis", "rerank.redis.endpoint": "\(configuration.endpoint)", "error.type": "\(reason)",
            ])
        }
        if transition.cameBack {
            logger.info("redis reachable again", metadata: ["rerank.cache.tier": "redis", "rerank.redis.endpoint": "\(configuration.endpoint)"])
        }
    }

    private static func reason(_ error: CacheError) -> String {
        switch error {
        case .query(let reason), .write(let reason), .open(_, let reason): reason
        }
    }
}

extension RedisConnectionPool {
    /// The pool's bookkeeping, pure: methods return what to do (resume waiters, close handles, log) after the lock.
    struct State {
        enum Lease {
            case handle(RedisConnectionHandle)
            /// Open a new connection (counted in `open` already).
            case connect
            case unavailable(String)
        }

        struct Down {
            var reason: String
            var retryAt: Duration
            var backoff: Duration
            /// A reconnect attempt is in flight; others answer unavailable meanwhile.
            var probing = false
        }

        struct Transition {
            var wentDown: String?
            var cameBack = false
            var waiters: [CheckedContinuation<Lease, Never>] = []
            var closed: [RedisConnectionHandle] = []
        }

        let size: Int
        let minBackoff: Duration
        let maxBackoff: Duration
        var idle: [RedisConnectionHandle] = []
        /// Connections that exist or are being opened (idle + leased + connecting).
        var open = 0
        var waiters: [CheckedContinuation<Lease, Never>] = []
        var down: Down?

        init(size: Int, minBackoff: Duration, maxBackoff: Duration) {
            self.size = size
            self.minBackoff = minBackoff
            self.maxBackoff = maxBackoff
        }

        /// A lease now, or `nil` when the caller must wait for a connection to come back.
        mutating func lease(now: Duration) -> Lease? {
            if var down {
                guard !down.probing, now >= down.retryAt else { return .unavailable(down.reason) }
                down.probing = true
                self.down = down
                open += 1
                return .connect
            }
            if let handle = idle.popLast() { return .handle(handle) }
            if open < size {
                open += 1
                return .connect
            }
            return nil
        }

        mutating func connected() -> Transition {
            guard down != nil else { return Transition() }
            down = nil
            return Transition(cameBack: true)
        }

        mutating func connectFailed(_ reason: String, now: Duration) -> Transition {
            open -= 1
            return markDown(reason, now: now)
        }

        mutating func broken(_ reason: String, now: Duration) -> Transition {
            open -= 1
            return markDown(reason, now: now)
        }

        /// Returns a waiter to hand `handle` to, or keeps it idle.
        mutating func giveBack(_ handle: RedisConnectionHandle) -> CheckedContinuation<Lease, Never>? {
            if !waiters.isEmpty { return waiters.removeFirst() }
            idle.append(handle)
            return nil
        }

        mutating func drainIdle() -> [RedisConnectionHandle] {
            defer { open -= idle.count; idle = [] }
            return idle
        }

        private mutating func markDown(_ reason: String, now: Duration) -> Transition {
            var transition = Transition()
            if var current = down {
                // A failed probe (or a late failure of a command that began before): back off further.
                if current.probing {
                    current.backoff = min(current.backoff * 2, maxBackoff)
                    current.probing = false
                }
                current.reason = reason
                current.retryAt = now + current.backoff
                down = current
            } else {
                down = Down(reason: reason, retryAt: now + minBackoff, backoff: minBackoff)
                transition.wentDown = reason
            }
            // The other connections are probably as broken; reopen them lazily once Redis is back.
            transition.closed = drainIdle()
            transition.waiters = waiters
            waiters = []
            return transition
        }
    }
}
