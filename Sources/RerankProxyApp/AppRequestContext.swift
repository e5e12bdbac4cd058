import Hummingbird
import Logging
import NIOCore

/// The per-request context; rerank bodies are collected by the controller against the policy's limit.
public struct AppRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The client's connection, kept for its address (read only by `POST /admin/reload`, never on the rerank path).
    let channel: any Channel

    public init(source: Source) {
        coreContext = .init(source: source)
        channel = source.channel
    }

    /// The client's address.
    public var remoteAddress: SocketAddress? { channel.remoteAddress }
}
