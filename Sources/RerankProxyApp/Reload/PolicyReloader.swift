import Foundation
import Logging
import Metrics

/// Re-reads the policy file the proxy started with and swaps in its models and API keys (SIGHUP,
/// `POST /admin/reload`).
///
/// ```swift
/// switch await reloader.reload(trigger: "SIGHUP") {
/// case .applied(let summary): …
/// case .refused(let refusal): …   // the running policy stays
/// }
/// ```
/// A file that fails the checks of `check-config`, or that changes a setting read only at start (``ReloadPlan``), is
/// refused and logged, and the running policy stays. Otherwise models whose settings are unchanged keep their pool,
/// added and changed models get a new one (its TEI batch limits read and canary checked before it takes traffic),
/// and the new ``Runtime`` is swapped in whole: requests that started before it finish on the old pools, which are
/// left to drain (``RuntimeHolder``). The cache and the coalescer are not touched. Reloads run one at a time.
actor PolicyReloader {
    enum Outcome: Sendable {
        case applied(Summary)
        case refused(Refusal)
    }

    /// What an applied reload changed (`POST /admin/reload`'s 200 body).
    struct Summary: Encodable, Sendable {
        var status = "reloaded"
        var generation: Int
        var sha256: String
        var models: Models
        var auth_changed: Bool

        struct Models: Encodable, Sendable {
            var added: [String]
            var removed: [String]
            var changed: [String]
            var unchanged: [String]
        }
    }

    struct Refusal: Error, Sendable {
        enum Reason: Sendable {
            /// The file cannot be read or fails validation.
            case invalid
            /// The file changes settings that are read only at start.
            case needsRestart
        }

        var reason: Reason
        var message: String
    }

    let file: String
    private let holder: RuntimeHolder
    private let factory: ModelFactory
    private let stats: ProxyStats
    private let reloadStats: ReloadStats
    private let metricsFactory: any MetricsFactory
    private let logger: Logger
    /// The policy the current runtime was built from.
    private var running: PolicyConfig
    /// The reload in progress or last finished; the next one waits for it.
    private var last: Task<Outcome, Never>?

    init(
        file: String, running: PolicyConfig, holder: RuntimeHolder, factory: ModelFactory, stats: ProxyStats, reloadStats: ReloadStats,
        logger: Logger
    ) {
        self.file = file
        self.running = running
        self.holder = holder
        self.factory = factory
        self.stats = stats
        self.reloadStats = reloadStats
        // Metric objects for backends a reload adds go where the app's others went (a test's task-local factory too).
        self.metricsFactory = MetricsSystem.factory
        self.logger = logger
    }

    /// Reloads the file; waits for a reload already in progress first.
    /// - Parameter trigger: what asked for it, for the log (`SIGHUP`, `POST /admin/reload`).
    func reload(trigger: String) async -> Outcome {
        let previous = last
        let task = Task {
            _ = await previous?.value
            return await self.perform(trigger: trigger)
        }
        last = task
        return await task.value
    }

    private func perform(trigger: String) async -> Outcome {
        let metadata: Logger.Metadata = ["rerank.policy.file": "\(file)", "rerank.reload.trigger": "\(trigger)"]
        let next: PolicyConfig
        let sha256: String
        do {
            (next, sha256) = try PolicyConfig.loadHashed(file: file)
        } catch {
            return refuse(Refusal(reason: .invalid, message: error.description), metadata: metadata)
        }
        let plan = ReloadPlan(running: running, next: next, connectionsPerBackend: factory.connectionsPerBackend)
        guard plan.needsRestart.isEmpty else {
            let message = "\(file): \(plan.needsRestart.joined(separator: ", ")) changed; "
                + "these take effect only when the proxy is restarted (nothing was reloaded)"
            return refuse(Refusal(reason: .needsRestart, message: message), metadata: metadata)
        }

        let current = holder.current
        var fresh: [ModelRuntime] = []
        let models = next.models.map { model in
            if plan.unchanged.contains(model.name), let kept = current.models[model.name] { return kept }
            let built = factory.make(model)
            fresh.append(built)
            return built
        }
        // New pools are readied as at start, before any request can reach them.
        for model in fresh {
            await model.pool.discoverBatchLimits(logger: logger)
            await model.pool.checkCanary(logger: logger)
        }
        let keyRing = plan.authChanged ? KeyRing(configuration: next.auth, carryingOver: current.keyRing) : current.keyRing
        withMetricsFactory(metricsFactory) {
            stats.register(backends: next.models.flatMap { model in model.backends.map { (model.name, $0.name) } })
            current.keyStats.register(names: keyRing.names + [KeyRing.admin.name])
        }
        let runtime = Runtime(
            models: ModelTable(models), keyRing: keyRing, keyStats: current.keyStats, protectStats: next.auth.protectStats,
            generation: current.generation + 1, loadedAt: Date(), fileSHA256: sha256
        )
        holder.replace(with: runtime)
        running = next
        reloadStats.attempted(error: nil)
        reloadStats.loaded(runtime)
        let summary = Summary(
            generation: runtime.generation, sha256: sha256,
            models: .init(added: plan.added, removed: plan.removed, changed: plan.changed, unchanged: plan.unchanged),
            auth_changed: plan.authChanged
        )
        logger.info(
            "policy reloaded",
            metadata: metadata.merging([
                "rerank.policy.generation": "\(runtime.generation)", "rerank.policy.sha256": "\(sha256)",
                "rerank.models.added": "\(plan.added)", "rerank.models.removed": "\(plan.removed)",
                "rerank.models.changed": "\(plan.changed)", "rerank.auth.changed": "\(plan.authChanged)",
            ]) { a, _ in a }
        )
        return .applied(summary)
    }

    private func refuse(_ refusal: Refusal, metadata: Logger.Metadata) -> Outcome {
        reloadStats.attempted(error: refusal.message)
        logger.error("policy reload refused; the running policy stays", metadata: metadata.merging(["error.message": "\(refusal.message)"]) { a, _ in a })
        return .refused(refusal)
    }
}
