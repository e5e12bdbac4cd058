import Logging
import RerankCore

/// Probes ejected backends every `interval` (a ``PeriodicWork`` on the app's timer loop), so they rejoin their
/// pool as soon as their health endpoint answers instead of when their ejection times out.
///
/// Healthy backends are not probed: live traffic already proves them, and probing them would only add load.
/// Batch limits a backend could not publish at startup (it was down) are read here once it answers.
public struct HealthChecker: PeriodicWork {
    /// Asked for the pools at every round, since a policy reload replaces them.
    let pools: @Sendable () -> [BackendPool]
    public let interval: Duration
    let logger: Logger

    public var name: String { "health-probes" }

    /// Probes the pools `pools` returns at each round.
    public init(interval: Duration = .seconds(2), logger: Logger, pools: @escaping @Sendable () -> [BackendPool]) {
        self.pools = pools
        self.interval = interval
        self.logger = logger
    }

    /// One round: every ejected backend probed, every unread batch limit asked for again.
    public func tick() async {
        for pool in pools() {
            await pool.probeEjected(logger: logger)
            await pool.discoverBatchLimits(logger: logger)
        }
    }
}
