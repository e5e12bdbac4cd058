/// Pairs done over time, and the rate and ETA they imply: pure, fed with times from a `TimeSource`, so
/// tests drive it with plain durations.
///
/// The rate is measured over a sliding window (the last `window`, at least two samples), so it follows a
/// run that speeds up as the cache warms or slows down when interactive traffic takes the backends; pairs
/// done before this run started (a resumed file) count toward done but not toward the rate.
/// ```swift
/// var meter = ProgressMeter(total: input.totalPairs, alreadyDone: resumedPairs, start: time.now)
/// meter.record(done: pairsWritten, at: time.now)
/// print(meter.plainLine(at: time.now))   // "1200/5000 pairs (24.0%), 300 pairs/s, ETA 13s"
/// ```
public struct ProgressMeter: Sendable {
    public let total: Int
    public private(set) var done: Int
    public let window: Duration
    private var samples: [(time: Duration, done: Int)]

    public init(total: Int, alreadyDone: Int = 0, start: Duration, window: Duration = .seconds(10)) {
        self.total = total
        self.done = alreadyDone
        self.window = window
        self.samples = [(start, alreadyDone)]
    }

    /// Records that `done` pairs are done at `time` (never going backwards).
    public mutating func record(done: Int, at time: Duration) {
        self.done = max(self.done, min(done, total))
        samples.append((time, self.done))
        // Keep one sample at or before the window's start, so the rate always spans the whole window.
        while samples.count > 2, samples[1].time <= time - window { samples.removeFirst() }
    }

    /// Pairs per second over the window; `nil` until some time has passed.
    public func rate(at time: Duration) -> Double? {
        guard let first = samples.first else { return nil }
        let elapsed = seconds(time - first.time)
        guard elapsed > 0 else { return nil }
        return Double(done - first.done) / elapsed
    }

    /// Time left at the current rate; `nil` while the rate is unknown or zero, `.zero` when done.
    public func eta(at time: Duration) -> Duration? {
        guard done < total else { return .zero }
        guard let rate = rate(at: time), rate > 0 else { return nil }
        return .milliseconds(Int64((Double(total - done) / rate * 1000).rounded(.up)))
    }

    /// Done as a fraction of total (1 for an empty job).
    public var fraction: Double { total == 0 ? 1 : Double(done) / Double(total) }

    // MARK: - Formatting

    /// A line for logs and pipes: `1200/5000 pairs (24.0%), 300 pairs/s, ETA 13s`.
    public func plainLine(at time: Duration) -> String {
        "\(done)/\(total) pairs (\(Self.percent(fraction))), \(rateText(at: time)), ETA \(etaText(at: time))"
    }

    /// One terminal line, redrawn in place: `[#######·············]  24.0%  1200/5000 pairs  300 pairs/s  ETA 13s`.
    public func barLine(at time: Duration, width: Int = 30) -> String {
        let filled = min(width, Int((fraction * Double(width)).rounded(.down)))
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        return "[\(bar)] \(Self.percent(fraction))  \(done)/\(total) pairs  \(rateText(at: time))  ETA \(etaText(at: time))"
    }

    private func rateText(at time: Duration) -> String {
        guard let rate = rate(at: time) else { return "- pairs/s" }
        return rate >= 100 ? "\(Int(rate.rounded())) pairs/s" : "\(Self.oneDecimal(rate)) pairs/s"
    }

    private func etaText(at time: Duration) -> String {
        eta(at: time).map(Self.duration) ?? "-"
    }

    /// `250ms`, `42s`, `3m05s`, `2h07m`.
    public static func duration(_ duration: Duration) -> String {
        if duration > .zero, duration < .seconds(1) { return "\(duration.components.attoseconds / 1_000_000_000_000_000)ms" }
        let total = Int((Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18).rounded(.up))
        if total < 60 { return "\(total)s" }
        if total < 3600 { return "\(total / 60)m" + pad(total % 60) + "s" }
        return "\(total / 3600)h" + pad(total % 3600 / 60) + "m"
    }

    static func percent(_ fraction: Double) -> String { oneDecimal(fraction * 100) + "%" }

    private static func oneDecimal(_ value: Double) -> String {
        let tenths = Int((value * 10).rounded())
        return "\(tenths / 10).\(tenths % 10)"
    }

    private static func pad(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
}

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}
