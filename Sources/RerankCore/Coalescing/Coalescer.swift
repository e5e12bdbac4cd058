import Synchronization

/// Makes concurrent misses of the same key wait on one computation instead of each starting their own.
///
/// ```swift
/// let claim = coalescer.claim(keys)
/// if let flight = claim.flight {
///     Task { coalescer.complete(flight, with: await compute(claim.lead)) }   // not tied to this client
/// }
/// let outcome = await flight.wait()
/// ```
/// The computation of a flight must not be tied to the leader's task: if the leader's client disconnects,
/// the other waiters still get their values. ``complete(_:with:)`` must be called exactly once per led flight.
public final class Coalescer<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    /// What a flight produced: the values it got, and why each other key failed.
    public struct Outcome: Sendable {
        public var values: [Key: Value]
        /// Keys the flight did not produce. A key in neither map failed without a recorded reason.
        public var failures: [Key: FlightFailure]

        public init(values: [Key: Value], failures: [Key: FlightFailure] = [:]) {
            self.values = values
            self.failures = failures
        }
    }

    /// One in-progress computation that any number of requests can wait on.
    public final class Flight: Sendable {
        let id: Int
        public let keys: [Key]
        private let state = Mutex<State>(.pending([]))

        enum State {
            case pending([CheckedContinuation<Outcome, Never>])
            case done(Outcome)
        }

        init(id: Int, keys: [Key]) {
            self.id = id
            self.keys = keys
        }

        /// Waits for the flight to finish. Not cancellable: the wait is bounded by the backend timeout.
        public func wait() async -> Outcome {
            await withCheckedContinuation { continuation in
                let ready: Outcome? = state.withLock { state in
                    switch state {
                    case .pending(var waiters):
                        waiters.append(continuation)
                        state = .pending(waiters)
                        return nil
                    case .done(let outcome):
                        return outcome
                    }
                }
                if let ready { continuation.resume(returning: ready) }
            }
        }

        /// Requests waiting on this flight right now.
        var waiting: Int {
            state.withLock { state in
                if case .pending(let waiters) = state { return waiters.count }
                return 0
            }
        }

        func resolve(_ outcome: Outcome) {
            let waiters: [CheckedContinuation<Outcome, Never>] = state.withLock { state in
                guard case .pending(let waiters) = state else {
                    preconditionFailure("a coalescer flight was completed twice")
                }
                state = .done(outcome)
                return waiters
            }
            for waiter in waiters { waiter.resume(returning: outcome) }
        }
    }

    /// The result of ``claim(_:)``.
    public struct Claim: Sendable {
        /// The flight this request must compute, or `nil` when every key was already in flight.
        public var flight: Flight?
        /// Flights computing the keys this request joined, with those keys.
        public var joined: [(flight: Flight, keys: [Key])]
    }

    private struct Locked {
        var machine = StateMachine()
        var flights: [Int: Flight] = [:]
    }

    /// Protected by its own lock; never held across IO or continuation resumes.
    private let locked = Mutex(Locked())

    public init() {}

    /// Number of keys currently being computed.
    public var inFlightCount: Int { locked.withLock { $0.machine.inFlight.count } }

    /// Number of waits on open flights (for tests and stats).
    public var waiterCount: Int {
        let flights = locked.withLock { Array($0.flights.values) }
        return flights.reduce(0) { $0 + $1.waiting }
    }

    /// Leads the keys no one is computing and joins the rest.
    /// - Parameter keys: unique keys this request misses.
    public func claim(_ keys: [Key]) -> Claim {
        locked.withLock { locked in
            let claim = locked.machine.claim(keys)
            var flight: Flight?
            if let id = claim.flight {
                let new = Flight(id: id, keys: claim.lead)
                locked.flights[id] = new
                flight = new
            }
            var joined: [Int: (flight: Flight, keys: [Key])] = [:]
            for (key, id) in claim.joined {
                guard let other = locked.flights[id] else { preconditionFailure("joined a flight that is not registered") }
                joined[id, default: (other, [])].keys.append(key)
            }
            return Claim(flight: flight, joined: Array(joined.values))
        }
    }

    /// Publishes a led flight's outcome: forgets its keys, then wakes every waiter.
    ///
    /// Write the values to the cache *before* calling this, so a request that misses the cache after the
    /// keys are forgotten finds them there instead of computing them again.
    public func complete(_ flight: Flight, with outcome: Outcome) {
        locked.withLock { locked in
            locked.machine.finish(flight: flight.id, keys: flight.keys)
            locked.flights.removeValue(forKey: flight.id)
        }
        flight.resolve(outcome)
    }
}
