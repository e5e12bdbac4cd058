import Hummingbird
import Logging

/// The per-request context; rerank bodies are collected by the controller against the policy's limit.
public struct AppRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage

    public init(source: Source) {
        coreContext = .init(source: source)
    }
}
