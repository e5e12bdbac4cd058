import RerankCore
import Testing

@Suite struct PeriodicScheduleTests {
    @Test func eachWorkIsDueAtItsOwnFixedRate() {
        var schedule = PeriodicSchedule(intervals: [.seconds(1), .seconds(3)], now: .zero)
        var started: [[Int]] = []
        for second in 1...6 {
            #expect(schedule.nextDue == .seconds(second))
            let due = schedule.takeDue(at: .seconds(second))
            started.append(due)
            for index in due { schedule.finished(index) }
        }
        #expect(started == [[0], [0], [0, 1], [0], [0], [0, 1]])
    }

    @Test func aWorkStillRunningIsSkippedNotStackedAndRunsAgainAfterItFinished() {
        var schedule = PeriodicSchedule(intervals: [.seconds(1)], now: .zero)
        #expect(schedule.takeDue(at: .seconds(1)) == [0])
        #expect(schedule.isRunning(0))
        // Due twice while its tick runs: never started again, and nothing queued behind it.
        #expect(schedule.takeDue(at: .seconds(2)) == [])
        #expect(schedule.takeDue(at: .seconds(3)) == [])
        schedule.finished(0)
        #expect(!schedule.isRunning(0))
        #expect(schedule.nextDue == .seconds(4))
        #expect(schedule.takeDue(at: .seconds(4)) == [0])
    }

    @Test func aLateLoopRunsAWorkOnceAndStartsOverFromNow() {
        var schedule = PeriodicSchedule(intervals: [.milliseconds(100)], now: .zero)
        // Ten rounds missed: one tick, and the next a full interval after now, not a burst of catch-up ticks.
        #expect(schedule.takeDue(at: .milliseconds(1050)) == [0])
        schedule.finished(0)
        #expect(schedule.nextDue == .milliseconds(1150))
        #expect(schedule.takeDue(at: .milliseconds(1100)) == [])
    }

    @Test func aSlowTickDoesNotDriftTheRate() {
        var schedule = PeriodicSchedule(intervals: [.seconds(1)], now: .zero)
        #expect(schedule.takeDue(at: .seconds(1)) == [0])
        // Its tick took 0.9 s: the next is still due at 2 s, one interval after the last was due.
        schedule.finished(0)
        #expect(schedule.nextDue == .seconds(2))
    }

    @Test func noWorkIsNeverDue() {
        var schedule = PeriodicSchedule(intervals: [], now: .zero)
        #expect(schedule.nextDue == nil)
        #expect(schedule.takeDue(at: .seconds(100)) == [])
    }
}
