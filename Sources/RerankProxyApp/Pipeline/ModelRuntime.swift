import RerankBackends

/// One served model: its name, cache revision, the API its backends speak (one per model, checked at
/// `check-config`), its backend pool, and its cache generation (advanced by a purge).
struct ModelRuntime: Sendable {
    let name: String
    let revision: String
    let api: BackendAPI
    let pool: BackendPool
    var generation = CacheGeneration()
}
