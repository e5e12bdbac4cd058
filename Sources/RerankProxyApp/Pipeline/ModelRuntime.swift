import RerankBackends

/// One served model: its name, cache revision and backend pool.
struct ModelRuntime: Sendable {
    let name: String
    let revision: String
    let pool: BackendPool
}
