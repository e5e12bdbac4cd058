import RerankCore
import Synchronization

/// Shows a run's progress on stderr: one bar line redrawn in place on a terminal (at most every `redraw`),
/// a plain line every `interval` otherwise, and nothing at all when quiet (the caller reports errors).
///
/// ```swift
/// let reporter = ProgressReporter(style: isatty(2) != 0 ? .bar : .plain, time: .continuous)
/// reporter.start(total: 5000, alreadyDone: 1200)
/// reporter.update(done: 1500)
/// reporter.finish()
/// ```
public final class ProgressReporter: Sendable {
    public enum Style: Sendable, Equatable {
        case bar
        case plain
        case quiet
    }

    private struct State {
        var meter: ProgressMeter?
        var lastShown: Duration?
        var barVisible = false
    }

    public let style: Style
    let time: TimeSource
    let interval: Duration
    let redraw: Duration
    let write: @Sendable (String) -> Void
    /// Protected by its own lock; `write` is called after it is released.
    private let state = Mutex(State())

    public init(
        style: Style, time: TimeSource = .continuous, interval: Duration = .seconds(5), redraw: Duration = .milliseconds(200),
        write: @escaping @Sendable (String) -> Void
    ) {
        self.style = style
        self.time = time
        self.interval = interval
        self.redraw = redraw
        self.write = write
    }

    /// Starts measuring: `alreadyDone` pairs were written by an earlier run.
    public func start(total: Int, alreadyDone: Int) {
        let now = time.now
        state.withLock { $0.meter = ProgressMeter(total: total, alreadyDone: alreadyDone, start: now) }
        show(force: true)
    }

    /// Records pairs done (written, plus what the server reports for running jobs).
    public func update(done: Int) {
        let now = time.now
        state.withLock { $0.meter?.record(done: done, at: now) }
        show(force: false)
    }

    /// Re-measures with nothing new done, so the rate and ETA move while a long call is outstanding.
    public func tick() {
        let now = time.now
        state.withLock { state in
            guard let done = state.meter?.done else { return }
            state.meter?.record(done: done, at: now)
        }
        show(force: false)
    }

    /// A message for the user (a retry, a re-attach); it does not overwrite the bar.
    public func note(_ message: String) {
        guard style != .quiet else { return }
        let clear = state.withLock { state in
            defer { state.barVisible = false }
            return state.barVisible
        }
        write((clear ? "\r\u{1B}[2K" : "") + message + "\n")
        if clear { show(force: true) }
    }

    /// The last progress line, ending the bar's line.
    public func finish() {
        show(force: true)
        let visible = state.withLock { state in
            defer { state.barVisible = false }
            return state.barVisible
        }
        if visible { write("\n") }
    }

    private func show(force: Bool) {
        guard style != .quiet else { return }
        let now = time.now
        let text: String? = state.withLock { state in
            guard let meter = state.meter else { return nil }
            let every = style == .bar ? redraw : interval
            if !force, let last = state.lastShown, now - last < every { return nil }
            state.lastShown = now
            if style == .bar {
                state.barVisible = true
                return "\r\u{1B}[2K" + meter.barLine(at: now)
            }
            return meter.plainLine(at: now) + "\n"
        }
        if let text { write(text) }
    }
}
