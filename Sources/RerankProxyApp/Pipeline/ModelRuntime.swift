import RerankBackends
import RerankCore

/// One served model: its name, cache revision, the API its backends speak (one per model, checked at
/// `check-config`), its backend pool, and its cache generation (advanced by a purge).
struct ModelRuntime: Sendable {
    let name: String
    let revision: String
    let api: BackendAPI
    let pool: BackendPool
    var generation = CacheGeneration()
    /// ``CacheKey/modelTag(_:)`` of `name`, hashed once here instead of once per request.
    let tag: UInt64

    init(name: String, revision: String, api: BackendAPI, pool: BackendPool, generation: CacheGeneration = CacheGeneration()) {
        self.name = name
        self.revision = revision
        self.api = api
        self.pool = pool
        self.generation = generation
        self.tag = CacheKey.modelTag(name)
    }
}
