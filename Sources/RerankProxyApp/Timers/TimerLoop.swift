import Logging
import RerankCore
import ServiceLifecycle
import Synchronization

/// The proxy's one timer loop: a single `Service` that runs every ``PeriodicWork`` (cache flushes and sweeps,
/// health probes, generation refreshes, job rescans and sweeps) on one injected clock, instead of a sleeping task
/// per service. Tests give it a manual clock and advance it instead of sleeping.
///
/// Each due tick runs in its own child task, so a slow one (a probe waiting for its connect timeout) never delays
/// another work's tick; ``PeriodicSchedule`` keeps a work from running twice at once.
///
/// On graceful shutdown or cancellation it stops ticking, cancels the ticks running and waits for them, then runs each work's
/// ``PeriodicWork/finish()`` once in registration order, from an uncancelled task (the cache writers' last flush).
/// ```swift
/// services.append(TimerLoop(works: [sqliteWriter, healthChecker], time: .continuous, logger: logger))
/// ```
public struct TimerLoop: Service {
    let works: [any PeriodicWork]
    let time: TimeSource
    let logger: Logger

    public init(works: [any PeriodicWork], time: TimeSource = .continuous, logger: Logger) {
        self.works = works
        self.time = time
        self.logger = logger
    }

    public func run() async throws {
        let works = self.works
        for work in works { await work.start() }
        let schedule = Schedule(PeriodicSchedule(intervals: works.map(\.interval), now: time.now))
        await withDiscardingTaskGroup { group in
            while !Task.isShuttingDownGracefully && !Task.isCancelled {
                guard let due = schedule.state.withLock({ $0.nextDue }) else {
                    // No work: only wait for the end.
                    try? await gracefulShutdown()
                    break
                }
                // Wake at once on graceful shutdown instead of finishing the sleep.
                try? await cancelWhenGracefulShutdown { [time] in try await time.sleep(until: due) }
                if Task.isShuttingDownGracefully || Task.isCancelled { break }
                for index in schedule.state.withLock({ $0.takeDue(at: time.now) }) {
                    let work = works[index]
                    group.addTask {
                        await work.tick()
                        schedule.state.withLock { $0.finished(index) }
                    }
                }
            }
            // Ticks still running are told to stop: one waiting on a backend or a slow store must not hold back
            // every work's finish (the cache writers' last flush) past the time the process is given to stop.
            // A cancelled flush leaves its scores queued for that last flush.
            group.cancelAll()
        }
        // The last flushes must happen even when this task was cancelled (GRDB refuses work in a cancelled task).
        await Task {
            for work in works { await work.finish() }
        }.value
        logger.debug("timer loop stopped", metadata: ["rerank.timer.works": "\(works.map(\.name))"])
    }

    /// The schedule, shared by the loop and the ticks that mark themselves finished.
    private final class Schedule: Sendable {
        let state: Mutex<PeriodicSchedule>
        init(_ schedule: PeriodicSchedule) { state = Mutex(schedule) }
    }
}
