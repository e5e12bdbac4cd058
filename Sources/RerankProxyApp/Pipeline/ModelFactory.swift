import AsyncHTTPClient
import RerankBackends

/// Builds a model's backends and pool from its policy: once per model at start, and for every model a reload
/// adds or changes.
struct ModelFactory: Sendable {
    let httpClient: HTTPClient
    /// The HTTP client's connections per backend host, fixed when it is created (the largest `max_concurrency` then).
    let connectionsPerBackend: Int
    let observer: any BackendPoolObserver
    /// Each model's cache generation by name, so a model rebuilt by a reload keeps its purges.
    var generations = CacheGenerations()
    /// `jobs.max_share`, fixed at start (a reload does not change it).
    var backgroundShare = 0.5

    func make(_ model: ModelConfig) -> ModelRuntime {
        let clients: [any BackendClient] = model.backends.map { backend in
            HTTPBackendClient(
                configuration: .init(
                    name: backend.name, api: backend.api, url: backend.url, path: backend.path, apiKey: backend.apiKey,
                    model: backend.model ?? model.name, timeout: backend.timeout.duration, healthPath: backend.healthPath
                ),
                httpClient: httpClient
            )
        }
        let pool = BackendPool(
            model: model.name,
            backends: clients,
            configuration: .init(
                maxBatch: model.backends.map(\.maxBatch).min() ?? 64,
                ejectAfter: model.ejectAfter,
                ejectFor: model.ejectFor.duration,
                chunkTimeout: model.backends.map(\.timeout.duration).max() ?? .seconds(30),
                maxConcurrency: connectionsPerBackend,
                backends: model.backends.map { BackendPool.BackendLimits(weight: $0.weight, maxConcurrency: $0.maxConcurrency) },
                maxQueue: model.maxQueue,
                backgroundShare: backgroundShare,
                canary: model.canary.map { BackendPool.Canary(query: $0.query, document: $0.document, tolerance: $0.tolerance) },
                batchWindow: model.batchWindow.duration, retries: model.retries
            ),
            observer: observer
        )
        return ModelRuntime(
            name: model.name, revision: model.revision, api: model.backends.first?.api ?? .cohere, pool: pool,
            generation: generations.generation(of: model.name)
        )
    }
}
