import Foundation
import Logging
import RerankBackends
import RerankCache
import RerankCore
import ServiceLifecycle
import Synchronization

/// Runs rerank jobs in the background: takes submitted and (at start-up) unfinished jobs from the ``JobStore``,
/// scores them a chunk at a time through the pipeline at background priority, saves each chunk's results and
/// progress, retries failed requests with backoff (``JobSchedule``), and sweeps finished jobs after `jobs.ttl`.
///
/// ```swift
/// let runner = JobRunner(store: store, pipeline: pipeline, configuration: policy.jobs, limits: limits, logger: logger)
/// app.addServices(runner)        // after the cache writer: it stops first, so its last scores are flushed
/// ```
/// On graceful shutdown a running job stops after its current chunk and stays `running` in the store; the next
/// proxy started on the same store resumes it, and the pairs it had scored come from the cache.
final class JobRunner: Service, Sendable {
    struct State {
        var queue: [String] = []
        var running: Set<String> = []
        /// Jobs told to stop by `DELETE`: they end `cancelled` at their next chunk boundary.
        var cancelling: Set<String> = []
        var stopping = false
        /// Set by ``open()``: the timer loop's rescans and sweeps wait for it too.
        var open = false
    }

    let store: any JobStore
    let pipeline: RerankPipeline
    let configuration: JobsConfig
    let limits: RequestLimits
    let logger: Logger
    let time: TimeSource
    /// Seconds since 1970, for the records' timestamps and the TTL sweep.
    let now: @Sendable () -> Int64
    /// Protected by its own lock; held only to move ids between sets, never across IO.
    private let state = Mutex(State())
    /// This process's name in job claims (``JobStore/claim(_:owner:seconds:)``): one runner at a time runs a job.
    let owner = "runner-" + RerankPipeline.requestID().dropFirst("rerank-".count)
    /// How long a claim lasts without renewal (renewed after every chunk); a replica that dies mid-job leaves
    /// its jobs to the others after this long.
    static let claimSeconds = 60
    /// How often the store is scanned for unfinished jobs nobody runs (another replica's that stopped).
    static let rescanEvery = Duration.seconds(15)
    private let wakeups: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation
    /// Finished by ``open()``: no job is scored before the app is ready (purged generations loaded, pools' batch limits
    /// read and canaries checked), so a job resumed at start cannot read purged scores or reach a backend to be refused.
    private let opening: AsyncStream<Void>
    private let opened: AsyncStream<Void>.Continuation

    init(
        store: any JobStore, pipeline: RerankPipeline, configuration: JobsConfig, limits: RequestLimits, logger: Logger,
        time: TimeSource = .continuous, now: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) }
    ) {
        self.store = store
        self.pipeline = pipeline
        self.configuration = configuration
        self.limits = limits
        self.logger = logger
        self.time = time
        self.now = now
        (wakeups, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        (opening, opened) = AsyncStream.makeStream(of: Void.self)
    }

    /// Lets the runner start jobs (the app calls it once it is ready to serve: purged generations loaded, batch
    /// limits read, canaries checked).
    func open() {
        state.withLock { $0.open = true }
        opened.finish()
    }

    // MARK: - API side

    /// Stores a new job and queues it; `false` (nothing stored or queued) when a job with its id exists already.
    /// - Throws: ``CacheError`` when the store cannot take it.
    @discardableResult
    func submit(_ record: JobRecord, input: JobInput) async throws(CacheError) -> Bool {
        guard try await store.create(record, input: input) else { return false }
        state.withLock { $0.queue.append(record.id) }
        wake.yield()
        return true
    }

    /// Cancels a queued or running job; returns its record as it stands now (unchanged when already finished).
    func cancel(_ record: JobRecord) async throws(CacheError) -> JobRecord {
        guard !record.status.isFinished else { return record }
        var cancelled = record
        cancelled.status = .cancelled
        cancelled.updatedAt = now()
        state.withLock { state in
            state.queue.removeAll { $0 == record.id }
            if state.running.contains(record.id) { state.cancelling.insert(record.id) }
        }
        try await store.update(cancelled)
        return cancelled
    }

    /// Whether `DELETE` was asked for this running job (it ends at its next chunk boundary).
    func isCancelling(_ id: String) -> Bool { state.withLock { $0.cancelling.contains(id) } }

    // MARK: - Service

    func run() async throws {
        await withGracefulShutdownHandler {
            for await _ in opening {}
            // Unfinished jobs (a restarted proxy resumes its own) and expired ones at once; then on the timer loop.
            // The sweep runs beside the jobs: a large one never delays the first job.
            await rescan(first: true)
            await withDiscardingTaskGroup { group in
                group.addTask { await self.sweep() }
                for await _ in wakeups {
                    while let id = state.withLock({ $0.startNext(limit: configuration.concurrency) }) {
                        group.addTask {
                            await self.execute(id)
                            self.state.withLock { state in
                                state.running.remove(id)
                                state.cancelling.remove(id)
                            }
                            self.wake.yield()
                        }
                    }
                }
            }
        } onGracefulShutdown: {
            self.state.withLock { $0.stopping = true }
            self.wake.finish()
            self.opened.finish()
        }
    }

    /// `true` once graceful shutdown began: running jobs stop at their next chunk boundary.
    var stopping: Bool { state.withLock { $0.stopping } }

    /// Whether the runner was opened and is not stopping: the timer loop's rescans and sweeps run only then.
    private var isOpenAndRunning: Bool { state.withLock { $0.open && !$0.stopping } }

    /// Queues the store's unfinished jobs this runner does not hold: at start (a restarted proxy resumes its jobs)
    /// and every ``rescanEvery`` (jobs of a replica that stopped); the claim decides who runs each.
    func rescan(first: Bool = false) async {
        do {
            let unfinished = try await store.unfinished().map(\.id)
            let added = state.withLock { $0.enqueue(unfinished) }
            if added > 0 {
                if first { logger.info("resuming unfinished rerank jobs", metadata: ["rerank.jobs": "\(added)"]) }
                wake.yield()
            }
        } catch {
            logger.warning("cannot read unfinished jobs from the store", metadata: ["error.type": "\(error)"])
        }
    }

    /// Deletes finished jobs older than `jobs.ttl`: at start and every ``sweepEvery``.
    func sweep() async {
        do {
            let swept = try await store.sweep(finishedBefore: now() - configuration.ttl.duration.components.seconds)
            if swept > 0 { logger.info("swept expired rerank jobs", metadata: ["rerank.jobs": "\(swept)"]) }
        } catch {
            logger.warning("job sweep failed", metadata: ["error.type": "\(error)"])
        }
    }

    /// `min(jobs.ttl / 10, 1 h)`.
    var sweepEvery: Duration { min(configuration.ttl.duration / 10, .seconds(3600)) }

    /// The runner's rescans and sweeps, for the app's timer loop (they wait for ``open()``).
    var periodicWorks: [any PeriodicWork] {
        [
            Periodic(name: "job-rescan", interval: Self.rescanEvery) { [self] in if isOpenAndRunning { await rescan() } },
            Periodic(name: "job-sweep", interval: sweepEvery) { [self] in if isOpenAndRunning { await sweep() } },
        ]
    }
}

extension JobRunner.State {
    /// Queues the jobs neither queued nor running here; returns how many.
    mutating func enqueue(_ ids: [String]) -> Int {
        let fresh = ids.filter { !running.contains($0) && !queue.contains($0) }
        queue += fresh
        return fresh.count
    }

    /// The next queued job to start, when fewer than `limit` run and the runner is not stopping.
    mutating func startNext(limit: Int) -> String? {
        guard !stopping, running.count < limit, !queue.isEmpty else { return nil }
        let id = queue.removeFirst()
        guard running.insert(id).inserted else { return nil }
        return id
    }
}
