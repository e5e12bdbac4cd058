import RerankBackends
import RerankCore

extension RerankPipeline {
    /// The client's error for a pair that could not be scored: a refused document is the client's (4xx, naming
    /// its `index`), anything else the backends' (5xx).
    static func proxyError(_ failure: FlightFailure, index: Int, model: ModelRuntime, dialect: Dialect) -> ProxyError {
        guard let error = failure.error as? BackendError else {
            return .backend(.unreachable(backend: model.name, reason: "no score"), dialect)
        }
        if error.isRefusal, case .status(let backend, _, let message) = error {
            return .request(.refusedByBackend(index: index, backend: backend, message: message), dialect)
        }
        return .backend(error, dialect)
    }

    /// What the pairs of a plan score: the (query, settings) groups and, for each key, its group and document.
    struct Work: Sendable {
        struct Group: Sendable, Hashable {
            var query: String
            var settings: ScoreSettings
        }

        var groups: [Group]
        /// No backend round is sent after this (the client's deadline); `nil`: none.
        var sendBy: ContinuousClock.Instant?
        var priority: BackendPool.Priority
        var pair: @Sendable (CacheKey) -> (group: Int, text: String)
    }
}
