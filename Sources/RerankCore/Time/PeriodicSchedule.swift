/// When each of a timer loop's periodic works is next due: a pure state machine over time given as a `Duration`,
/// so the loop's rules are unit tests without a clock.
///
/// Rules:
/// - a work is first due one interval after the schedule starts, then one interval after each tick started
///   (fixed rate, no drift from slow ticks);
/// - a work whose tick is still running when it is due again is skipped for that round, never run twice at once
///   and never queued up behind itself;
/// - a round missed entirely (the loop was late) is not caught up: the next is one interval after now.
/// ```swift
/// var schedule = PeriodicSchedule(intervals: [.seconds(1), .seconds(2)], now: .zero)
/// schedule.nextDue                        // .seconds(1)
/// schedule.takeDue(at: .seconds(1))       // [0]: run work 0; call finished(0) when its tick returns
/// ```
public struct PeriodicSchedule: Sendable {
    struct Entry: Sendable {
        var interval: Duration
        var due: Duration
        var running: Bool
    }

    private var entries: [Entry]

    public init(intervals: [Duration], now: Duration) {
        entries = intervals.map { Entry(interval: $0, due: now + $0, running: false) }
    }

    /// When the loop must next wake; `nil` when there is no work.
    public var nextDue: Duration? { entries.lazy.map(\.due).min() }

    /// The works due at `now` that are not running, now marked running; every due work's next time is set.
    public mutating func takeDue(at now: Duration) -> [Int] {
        var start: [Int] = []
        for index in entries.indices where entries[index].due <= now {
            var entry = entries[index]
            if !entry.running {
                entry.running = true
                start.append(index)
            }
            // Fixed rate from the round that was due; a loop that woke late starts over from now.
            entry.due += entry.interval
            if entry.due <= now { entry.due = now + entry.interval }
            entries[index] = entry
        }
        return start
    }

    /// Work `index`'s tick returned: it may run again when next due.
    public mutating func finished(_ index: Int) {
        entries[index].running = false
    }

    /// Whether work `index` is running.
    public func isRunning(_ index: Int) -> Bool { entries[index].running }
}
