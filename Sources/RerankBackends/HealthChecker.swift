import Logging
import RerankCore
import ServiceLifecycle

/// The `Service` that probes ejected backends every `interval`, so they rejoin their pool as soon as
/// their health endpoint answers instead of when their ejection times out.
///
/// Healthy backends are not probed: live traffic already proves them, and probing them would only add load.
/// Batch limits a backend could not publish at startup (it was down) are read here once it answers.
public struct HealthChecker: Service {
    /// Asked for the pools at every round, since a policy reload replaces them.
    let pools: @Sendable () -> [BackendPool]
    let interval: Duration
    let time: TimeSource
    let logger: Logger

    public init(pools: [BackendPool], interval: Duration = .seconds(2), time: TimeSource = .continuous, logger: Logger) {
        self.init(interval: interval, time: time, logger: logger) { pools }
    }

    /// Probes the pools `pools` returns at each round.
    public init(interval: Duration = .seconds(2), time: TimeSource = .continuous, logger: Logger, pools: @escaping @Sendable () -> [BackendPool]) {
        self.pools = pools
        self.interval = interval
        self.time = time
        self.logger = logger
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            // Wake at once on graceful shutdown instead of finishing the sleep.
            try? await cancelWhenGracefulShutdown { try await time.sleep(for: interval) }
            if Task.isShuttingDownGracefully { break }
            for pool in pools() {
                await pool.probeEjected(logger: logger)
                await pool.discoverBatchLimits(logger: logger)
            }
        }
    }
}
