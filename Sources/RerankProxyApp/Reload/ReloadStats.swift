import Foundation
import Metrics
import Synchronization

/// Reload counters for `/v1/stats` (`policy`) and `/metrics` (`rerank_reload_total`, `rerank_reload_failures_total`,
/// `rerank_policy_generation`, `rerank_policy_loaded_timestamp_seconds`, `rerank_policy_hash`).
final class ReloadStats: Sendable {
    struct Counters: Sendable {
        /// Every reload asked for (SIGHUP or `POST /admin/reload`), applied or refused.
        var reloads = 0
        /// Reloads refused: unreadable or invalid file, or a change that needs a restart.
        var failures = 0
        /// Why the last refused reload was refused, until one succeeds.
        var lastError: String?
    }

    /// The body of `policy` in `/v1/stats`.
    struct Report: Encodable {
        var file: String?
        var sha256: String?
        var generation: Int
        var loaded_at: String
        var reloads: Int
        var reload_failures: Int
        var last_reload_error: String?
        /// Pools a reload replaced that requests or coalesced flights still use.
        var draining_pools: Int
    }

    /// Protected by its own lock; metrics are emitted after it is released.
    private let counters = Mutex(Counters())
    let file: String?
    private let reloadsTotal = Counter(label: "rerank_reload_total")
    private let failuresTotal = Counter(label: "rerank_reload_failures_total")
    private let generation = Gauge(label: "rerank_policy_generation")
    private let loadedAt = Gauge(label: "rerank_policy_loaded_timestamp_seconds")
    /// The first 48 bits of the file's SHA-256, as a number (Alertmanager's `config_hash` does the same).
    private let hash = Gauge(label: "rerank_policy_hash")

    init(file: String?, loaded runtime: Runtime) {
        self.file = file
        loaded(runtime)
    }

    /// A policy was loaded and is now current.
    func loaded(_ runtime: Runtime) {
        generation.record(runtime.generation)
        loadedAt.record(runtime.loadedAt.timeIntervalSince1970)
        if let sha = runtime.fileSHA256, let bits = UInt64(sha.prefix(12), radix: 16) { hash.record(Double(bits)) }
    }

    /// A reload was asked for; `error` says why it was refused (`nil`: applied).
    func attempted(error: String?) {
        counters.withLock { c in
            c.reloads += 1
            if error != nil { c.failures += 1 }
            c.lastError = error
        }
        reloadsTotal.increment()
        if error != nil { failuresTotal.increment() }
    }

    func report(_ runtime: Runtime, drainingPools: Int) -> Report {
        let c = counters.withLock { $0 }
        return Report(
            file: file, sha256: runtime.fileSHA256, generation: runtime.generation,
            loaded_at: runtime.loadedAt.formatted(.iso8601), reloads: c.reloads, reload_failures: c.failures,
            last_reload_error: c.lastError, draining_pools: drainingPools
        )
    }
}
