/// Work that runs every `interval` on the proxy's one shared timer loop (`TimerLoop` in the app): cache flushes
/// and sweeps, health probes, generation refreshes, job rescans.
///
/// A tick still running when its next is due is not started twice: that tick is skipped. On shutdown the loop
/// stops ticking, cancels running ticks and waits for them, then calls every ``finish()`` once, in registration order, from a task
/// that is not cancelled (a final flush must happen even when the loop was cancelled).
/// ```swift
/// struct Flusher: PeriodicWork {
///     let name = "flusher"
///     let interval = Duration.seconds(1)
///     func tick() async { try? await store.flush() }
/// }
/// ```
public protocol PeriodicWork: Sendable {
    /// Names the work in logs.
    var name: String { get }
    /// Time from one tick's start to the next's.
    var interval: Duration { get }
    /// Runs once when the loop starts, before the first interval.
    func start() async
    /// Runs every ``interval``.
    func tick() async
    /// Runs once when the loop stops.
    func finish() async
}

extension PeriodicWork {
    public func start() async {}
    public func finish() async {}
}

/// A ``PeriodicWork`` made of a closure, for work with nothing to start or finish.
/// ```swift
/// Periodic(name: "generation-refresh", interval: .seconds(1)) { await purger.load() }
/// ```
public struct Periodic: PeriodicWork {
    public let name: String
    public let interval: Duration
    let action: @Sendable () async -> Void

    public init(name: String, interval: Duration, _ action: @escaping @Sendable () async -> Void) {
        self.name = name
        self.interval = interval
        self.action = action
    }

    public func tick() async { await action() }
}
