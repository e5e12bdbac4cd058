/// A monotonic clock seen as "time since this source was made", so pure state machines can take time as
/// a plain `Duration` and tests can drive it with a manual clock instead of sleeping.
///
/// ```swift
/// let time = TimeSource(ContinuousClock())      // or a test clock that the test advances
/// let deadline = time.now + .seconds(30)
/// try await time.sleep(until: deadline)
/// ```
public struct TimeSource: Sendable {
    private let nowFunction: @Sendable () -> Duration
    private let sleepFunction: @Sendable (Duration) async throws -> Void

    /// Wraps any clock whose durations are `Duration` (`ContinuousClock`, a test clock).
    public init<C: Clock & Sendable>(_ clock: C) where C.Duration == Duration, C.Instant: Sendable {
        let epoch = clock.now
        nowFunction = { epoch.duration(to: clock.now) }
        sleepFunction = { offset in try await clock.sleep(until: epoch.advanced(by: offset), tolerance: nil) }
    }

    /// The real monotonic clock.
    public static var continuous: TimeSource { TimeSource(ContinuousClock()) }

    /// Time elapsed since this source was made.
    public var now: Duration { nowFunction() }

    /// Suspends until ``now`` reaches `deadline`.
    /// - Throws: `CancellationError` when the task is cancelled first.
    public func sleep(until deadline: Duration) async throws {
        try await sleepFunction(deadline)
    }

    /// Suspends for `duration`.
    public func sleep(for duration: Duration) async throws {
        try await sleepFunction(now + duration)
    }
}
