import RerankClient
import RerankCore
import Synchronization
import Testing

@Suite struct ProgressMeterTests {
    @Test func rateAndETAFollowTheWindow() {
        var meter = ProgressMeter(total: 1000, alreadyDone: 100, start: .zero, window: .seconds(10))
        #expect(meter.rate(at: .zero) == nil)
        #expect(meter.eta(at: .zero) == nil)
        meter.record(done: 300, at: .seconds(2))
        // Pairs from an earlier run are done but not part of the rate.
        #expect(meter.rate(at: .seconds(2)) == 100)
        #expect(meter.eta(at: .seconds(2)) == .seconds(7))
        // After the window has moved on, only recent progress counts: 300 → 900 over the last 10 s.
        meter.record(done: 300, at: .seconds(12))
        meter.record(done: 900, at: .seconds(22))
        #expect(meter.rate(at: .seconds(22)) == 60)
        #expect(meter.eta(at: .seconds(22)).map { ProgressMeter.duration($0) } == "2s")
    }

    @Test func linesSayDoneTotalRateAndETA() {
        var meter = ProgressMeter(total: 5000, start: .zero)
        meter.record(done: 1200, at: .seconds(4))
        #expect(meter.plainLine(at: .seconds(4)) == "1200/5000 pairs (24.0%), 300 pairs/s, ETA 13s")
        #expect(meter.barLine(at: .seconds(4), width: 10) == "[##........] 24.0%  1200/5000 pairs  300 pairs/s  ETA 13s")
        meter.record(done: 5000, at: .seconds(5))
        #expect(meter.plainLine(at: .seconds(5)).hasSuffix("ETA 0s"))
        #expect(ProgressMeter(total: 10, start: .zero).plainLine(at: .zero) == "0/10 pairs (0.0%), - pairs/s, ETA -")
    }

    @Test func durationsAreShort() {
        #expect(ProgressMeter.duration(.milliseconds(250)) == "250ms")
        #expect(ProgressMeter.duration(.milliseconds(41_200)) == "42s")
        #expect(ProgressMeter.duration(.seconds(185)) == "3m05s")
        #expect(ProgressMeter.duration(.seconds(7620)) == "2h07m")
    }
}

/// A clock the test sets by hand; sleeping returns at once.
final class SetClock: Clock, Sendable {
    struct Instant: InstantProtocol {
        var offset: Duration
        func advanced(by duration: Duration) -> Instant { Instant(offset: offset + duration) }
        func duration(to other: Instant) -> Duration { other.offset - offset }
        static func < (a: Instant, b: Instant) -> Bool { a.offset < b.offset }
    }

    let current = Mutex(Duration.zero)
    var now: Instant { Instant(offset: current.withLock { $0 }) }
    var minimumResolution: Duration { .zero }
    func sleep(until deadline: Instant, tolerance: Duration?) async throws {}
    func set(_ time: Duration) { current.withLock { $0 = time } }
}

@Suite struct ProgressReporterTests {
    final class Lines: Sendable {
        let all = Mutex<[String]>([])
        func append(_ text: String) { all.withLock { $0.append(text) } }
        var text: [String] { all.withLock { $0 } }
    }

    @Test func plainLinesComeAtMostEveryInterval() {
        let clock = SetClock()
        let lines = Lines()
        let reporter = ProgressReporter(style: .plain, time: TimeSource(clock), interval: .seconds(5)) { lines.append($0) }
        reporter.start(total: 100, alreadyDone: 0)
        clock.set(.seconds(1))
        reporter.update(done: 10)
        clock.set(.seconds(5))
        reporter.update(done: 50)
        clock.set(.seconds(6))
        reporter.update(done: 60)
        #expect(lines.text == ["0/100 pairs (0.0%), - pairs/s, ETA -\n", "50/100 pairs (50.0%), 10.0 pairs/s, ETA 5s\n"])
        reporter.finish()
        #expect(lines.text.last == "60/100 pairs (60.0%), 10.0 pairs/s, ETA 4s\n")
    }

    @Test func theBarIsRedrawnInPlaceAndNotesDoNotOverwriteIt() {
        let clock = SetClock()
        let lines = Lines()
        let reporter = ProgressReporter(style: .bar, time: TimeSource(clock), redraw: .milliseconds(200)) { lines.append($0) }
        reporter.start(total: 10, alreadyDone: 0)
        reporter.note("retrying")
        clock.set(.seconds(1))
        reporter.update(done: 10)
        reporter.finish()
        let text = lines.text
        #expect(text.allSatisfy { !$0.hasPrefix("[") })
        #expect(text[0].hasPrefix("\r\u{1B}[2K[") && !text[0].hasSuffix("\n"))
        #expect(text[1] == "\r\u{1B}[2Kretrying\n")
        #expect(text.last == "\n")
        #expect(text.dropLast().last?.contains("10/10 pairs") == true)
    }

    @Test func quietShowsNothing() {
        let lines = Lines()
        let reporter = ProgressReporter(style: .quiet, time: TimeSource(SetClock())) { lines.append($0) }
        reporter.start(total: 10, alreadyDone: 0)
        reporter.update(done: 5)
        reporter.note("job x re-attached")
        reporter.finish()
        #expect(lines.text.isEmpty)
    }
}

@Suite struct ProgressReporterTickTests {
    @Test func aTickLowersTheRateWhileNothingFinishes() {
        let clock = SetClock()
        let lines = ProgressReporterTests.Lines()
        let reporter = ProgressReporter(style: .plain, time: TimeSource(clock), interval: .seconds(1)) { lines.append($0) }
        reporter.start(total: 100, alreadyDone: 0)
        clock.set(.seconds(1))
        reporter.update(done: 50)
        clock.set(.seconds(5))
        reporter.tick()
        #expect(lines.text.last == "50/100 pairs (50.0%), 10.0 pairs/s, ETA 5s\n")
    }
}
