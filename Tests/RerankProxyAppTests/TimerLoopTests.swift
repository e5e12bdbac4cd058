import Logging
import RerankCore
@testable import RerankProxyApp
import ServiceLifecycle
import Synchronization
import Testing
import TestSupport

/// The one timer loop, driven by a manual clock: no test here sleeps.
@Suite struct TimerLoopTests {
    /// Counts ticks; a tick can be held on a gate the test opens.
    final class Counter: PeriodicWork {
        struct State {
            var started = 0
            var finished = 0
            var held: [CheckedContinuation<Void, Never>] = []
            var holding = false
            var finishedCancelled: Bool?
        }

        let name: String
        let interval: Duration
        let state = Mutex(State())
        let log: FinishLog?

        init(_ name: String, every interval: Duration, log: FinishLog? = nil) {
            self.name = name
            self.interval = interval
            self.log = log
        }

        var started: Int { state.withLock { $0.started } }

        func tick() async {
            let hold = state.withLock { state in
                state.started += 1
                return state.holding
            }
            if hold {
                await withCheckedContinuation { continuation in state.withLock { $0.held.append(continuation) } }
            }
            state.withLock { $0.finished += 1 }
        }

        func finish() async {
            state.withLock { $0.finishedCancelled = Task.isCancelled }
            log?.names.withLock { $0.append(name) }
        }

        func hold() { state.withLock { $0.holding = true } }

        func release() {
            let held = state.withLock { state in
                state.holding = false
                defer { state.held = [] }
                return state.held
            }
            for continuation in held { continuation.resume() }
        }
    }

    /// The order in which works finished.
    final class FinishLog: Sendable {
        let names = Mutex<[String]>([])
        var all: [String] { names.withLock { $0 } }
    }

    static let logger = Logger(label: "timer-test")

    /// Yields until `condition` holds (ticks run in child tasks; no wall-clock wait).
    func settle(_ condition: () -> Bool) async {
        for _ in 0..<100_000 where !condition() { await Task.yield() }
    }

    @Test func everyWorkTicksAtItsOwnIntervalOnTheInjectedClock() async throws {
        let clock = ManualClock()
        let fast = Counter("fast", every: .seconds(1))
        let slow = Counter("slow", every: .seconds(3))
        let loop = TimerLoop(works: [fast, slow], time: TimeSource(clock), logger: Self.logger)
        let task = Task { try await loop.run() }
        for second in 1...6 {
            await clock.waitForSleepers(1)
            clock.advance(by: .seconds(1))
            await settle { fast.started == second && slow.started == second / 3 }
            #expect(fast.started == second)
            #expect(slow.started == second / 3)
        }
        task.cancel()
        try await task.value
    }

    @Test func aTickStillRunningIsNotStartedAgainAndDoesNotDelayAnotherWork() async throws {
        let clock = ManualClock()
        let stuck = Counter("stuck", every: .seconds(1))
        let other = Counter("other", every: .seconds(1))
        stuck.hold()
        let loop = TimerLoop(works: [stuck, other], time: TimeSource(clock), logger: Self.logger)
        let task = Task { try await loop.run() }
        for second in 1...3 {
            await clock.waitForSleepers(1)
            clock.advance(by: .seconds(1))
            await settle { other.started == second }
            #expect(other.started == second)
            #expect(stuck.started == 1)
        }
        stuck.release()
        await settle { stuck.state.withLock { $0.finished } == 1 }
        await clock.waitForSleepers(1)
        clock.advance(by: .seconds(1))
        await settle { stuck.started == 2 }
        #expect(stuck.started == 2)
        task.cancel()
        try await task.value
    }

    @Test func cancellingTheLoopWaitsForRunningTicksThenFinishesEveryWorkInOrderUncancelled() async throws {
        let clock = ManualClock()
        let log = FinishLog()
        let first = Counter("first", every: .seconds(1), log: log)
        let second = Counter("second", every: .seconds(5), log: log)
        first.hold()
        let loop = TimerLoop(works: [first, second], time: TimeSource(clock), logger: Self.logger)
        let task = Task { try await loop.run() }
        await clock.waitForSleepers(1)
        clock.advance(by: .seconds(1))
        await settle { first.started == 1 }
        task.cancel()
        // No finish before the running tick returns.
        await settle { !log.all.isEmpty }
        #expect(log.all.isEmpty)
        first.release()
        try await task.value
        #expect(log.all == ["first", "second"])
        // A final cache flush must not run in a cancelled task (GRDB refuses work there).
        #expect(first.state.withLock { $0.finishedCancelled } == false)
        #expect(second.state.withLock { $0.finishedCancelled } == false)
    }

    @Test func gracefulShutdownWakesTheLoopAndFinishesEveryWork() async throws {
        let clock = ManualClock()
        let work = Counter("work", every: .seconds(3600))
        let loop = TimerLoop(works: [work], time: TimeSource(clock), logger: Self.logger)
        let group = ServiceGroup(configuration: .init(services: [loop], logger: Self.logger))
        let task = Task { try await group.run() }
        await clock.waitForSleepers(1)
        await group.triggerGracefulShutdown()
        try await task.value
        #expect(work.started == 0)
        #expect(work.state.withLock { $0.finishedCancelled } == false)
    }

    /// A tick that waits until its task is cancelled (a health probe waiting on a backend that does not answer).
    final class Hung: PeriodicWork {
        struct State {
            var started = false
            var waiter: CheckedContinuation<Void, Never>?
            var cancelled = false
        }

        let name = "hung"
        let interval = Duration.seconds(1)
        let state = Mutex(State())
        let log: FinishLog

        init(log: FinishLog) { self.log = log }

        var started: Bool { state.withLock { $0.started } }

        func tick() async {
            await withTaskCancellationHandler {
                await withCheckedContinuation { continuation in
                    let resumeNow = state.withLock { state in
                        state.started = true
                        if state.cancelled { return true }
                        state.waiter = continuation
                        return false
                    }
                    if resumeNow { continuation.resume() }
                }
            } onCancel: {
                let waiter = state.withLock { state in
                    state.cancelled = true
                    defer { state.waiter = nil }
                    return state.waiter
                }
                waiter?.resume()
            }
        }

        func finish() async { log.names.withLock { $0.append(name) } }
    }

    /// On graceful shutdown a tick still running is told to stop (cancelled), so a hung one (a probe, a slow
    /// store) cannot hold back every work's finish: the cache writers' last flush runs before the process is killed.
    @Test func gracefulShutdownCancelsARunningTickSoEveryWorkFinishes() async throws {
        let clock = ManualClock()
        let log = FinishLog()
        let hung = Hung(log: log)
        let writer = Counter("writer", every: .seconds(1), log: log)
        let loop = TimerLoop(works: [writer, hung], time: TimeSource(clock), logger: Self.logger)
        let group = ServiceGroup(configuration: .init(services: [loop], logger: Self.logger))
        let task = Task { try await group.run() }
        await clock.waitForSleepers(1)
        clock.advance(by: .seconds(1))
        await settle { hung.started }
        #expect(hung.started)
        await group.triggerGracefulShutdown()
        await settle { log.all.count == 2 }
        #expect(log.all == ["writer", "hung"])
        // Without the fix the loop still waits for the hung tick: end it so the test does not hang.
        task.cancel()
        try? await task.value
    }
}
