import Foundation
import RerankBackends
import Synchronization

/// Everything a request reads that a reload may replace: the models and their pools, and the API keys.
///
/// Immutable. A request takes the current one once (``RuntimeHolder/current``) and uses it to the end, so a
/// request that started before a reload finishes on the pools it started on.
final class Runtime: Sendable {
    let models: ModelTable
    let keyRing: KeyRing
    /// The same object in every generation (a reload registers new key names), so no count is lost in a swap.
    let keyStats: KeyStats
    /// `auth.protect_stats`: `/v1/stats`, `/stats` and `/metrics` need an admin key.
    let protectStats: Bool
    /// 1 for the policy the proxy started with, one more for every successful reload.
    let generation: Int
    let loadedAt: Date
    /// SHA-256 (hex) of the policy file's bytes; `nil` when the app was built from a `PolicyConfig` alone.
    let fileSHA256: String?

    init(
        models: ModelTable, keyRing: KeyRing, keyStats: KeyStats, protectStats: Bool, generation: Int = 1, loadedAt: Date = Date(),
        fileSHA256: String? = nil
    ) {
        self.models = models
        self.keyRing = keyRing
        self.keyStats = keyStats
        self.protectStats = protectStats
        self.generation = generation
        self.loadedAt = loadedAt
        self.fileSHA256 = fileSHA256
    }

    /// A runtime for the given models with the given auth (off by default).
    convenience init(models: [ModelRuntime], auth: AuthConfig = .init()) {
        let keyRing = KeyRing(configuration: auth)
        self.init(
            models: ModelTable(models), keyRing: keyRing, keyStats: KeyStats(names: keyRing.names + [KeyRing.admin.name]),
            protectStats: auth.protectStats
        )
    }
}

/// Holds the current ``Runtime`` and swaps it atomically; remembers the pools a swap retired until they drain.
///
/// ```swift
/// let runtime = holder.current          // once per request: one lock, one retain
/// let model = try runtime.models.model(named: request.model)
/// ```
/// A retired pool is held weakly: it is freed once the last request (or coalesced flight) using it ends, and until
/// then its ejected backends are still probed (``poolsToProbe``).
final class RuntimeHolder: Sendable {
    private struct Retired {
        weak var pool: BackendPool?
    }

    private struct State {
        var current: Runtime
        var retired: [Retired] = []
    }

    /// Protected by its own lock, held only to read or swap a reference.
    private let state: Mutex<State>

    init(_ runtime: Runtime) {
        state = Mutex(State(current: runtime))
    }

    /// The runtime new requests use.
    var current: Runtime { state.withLock { $0.current } }

    /// Makes `runtime` current; the pools of the old one that `runtime` does not keep are retired.
    /// - Returns: the runtime it replaced.
    @discardableResult
    func replace(with runtime: Runtime) -> Runtime {
        let kept = Set(runtime.models.pools.map(ObjectIdentifier.init))
        return state.withLock { state in
            let old = state.current
            state.retired += old.models.pools.filter { !kept.contains(ObjectIdentifier($0)) }.map { Retired(pool: $0) }
            state.current = runtime
            return old
        }
    }

    /// The current pools, then the retired pools still in use.
    var poolsToProbe: [BackendPool] {
        state.withLock { state in
            state.retired.removeAll { $0.pool == nil }
            return state.current.models.pools + state.retired.compactMap(\.pool)
        }
    }

    /// Retired pools that requests or flights still use.
    var drainingPools: Int {
        state.withLock { state in state.retired.count { $0.pool != nil } }
    }
}
