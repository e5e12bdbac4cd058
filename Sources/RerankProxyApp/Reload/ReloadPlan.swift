/// What a reload from the running policy to a new one would change, or why it needs a restart instead.
///
/// Pure: built from the two validated policies and the HTTP client's connection limit, so every rule is a unit test.
/// ```swift
/// let plan = ReloadPlan(running: old, next: new, connectionsPerBackend: 64)
/// guard plan.needsRestart.isEmpty else { … refuse, naming plan.needsRestart … }
/// ```
struct ReloadPlan: Equatable, Sendable {
    /// Models only in the new policy, in its order.
    var added: [String] = []
    /// Models only in the running policy, in its order.
    var removed: [String] = []
    /// Models in both whose settings or backends differ: they get a new pool.
    var changed: [String] = []
    /// Models in both with the same settings: they keep their pool (health, in-flight calls, queue).
    var unchanged: [String] = []
    /// Whether `auth:` differs: the key ring is rebuilt (rate-limit buckets start full).
    var authChanged = false
    /// Settings that take effect only at start, by key path; a reload that changes one is refused.
    var needsRestart: [String] = []

    init(running: PolicyConfig, next: PolicyConfig, connectionsPerBackend: Int) {
        needsRestart = next.restartOnlyChanges(comparedWith: running)
        // The HTTP client's per-host connection limit was sized at start to the largest max_concurrency; a backend
        // allowed more calls than connections would queue inside the client, where waiting counts as backend time.
        for (i, model) in next.models.enumerated() {
            for (j, backend) in model.backends.enumerated() where backend.maxConcurrency > connectionsPerBackend {
                needsRestart.append("models[\(i)].backends[\(j)].max_concurrency (above \(connectionsPerBackend), the most set at start)")
            }
        }
        let old = Dictionary(running.models.map { ($0.name, $0) }) { a, _ in a }
        let new = Set(next.models.map(\.name))
        for model in next.models {
            if let before = old[model.name] {
                if before == model { unchanged.append(model.name) } else { changed.append(model.name) }
            } else {
                added.append(model.name)
            }
        }
        removed = running.models.map(\.name).filter { !new.contains($0) }
        authChanged = running.auth != next.auth
    }
}
