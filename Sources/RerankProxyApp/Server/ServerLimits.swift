import Hummingbird
import HummingbirdCore
import Logging
import NIOCore

/// The server's defences against slow and abusive clients, built from the policy's `server:` section.
///
/// - `header_timeout` and `body_timeout`: ``RequestDeadlineHandler`` on every connection.
/// - `idle_timeout`: Hummingbird's own keep-alive idle timeout.
/// - `max_connections`: ``ConnectionLimit``, kept to 3/4 of the open-file limit so the listener never meets `EMFILE`.
/// - `max_buffered_body_bytes`: the ``BodyBudget`` the rerank controller charges bodies to.
///
/// ```swift
/// let limits = ServerLimits(policy.server, fileLimit: FileDescriptorLimit.current(), logger: logger)
/// let app = Application(router: router, server: limits.server, configuration: .init(availableConnectionsDelegate: limits.connectionLimit))
/// ```
struct ServerLimits: Sendable {
    let server: HTTPServerBuilder
    let connectionLimit: ConnectionLimit
    let bodyBudget: BodyBudget

    init(_ config: ServerConfig, fileLimit: FileDescriptorLimit?, logger: Logger) {
        let headerTimeout = TimeAmount(config.headerTimeout.duration)
        let bodyTimeout = TimeAmount(config.bodyTimeout.duration)
        server = .http1(
            configuration: .init(
                additionalChannelHandlers: [RequestDeadlineHandler(headerTimeout: headerTimeout, bodyTimeout: bodyTimeout, logger: logger)],
                idleTimeout: TimeAmount(config.idleTimeout.duration)
            )
        )
        let maxConnections = Self.maxConnections(configured: config.maxConnections, fileLimit: fileLimit)
        if maxConnections < config.maxConnections {
            logger.warning(
                "server.max_connections lowered to 3/4 of the open-file limit",
                metadata: ["rerank.max_connections": "\(maxConnections)", "rerank.open_file_limit": "\(fileLimit?.soft ?? 0)"]
            )
        }
        connectionLimit = ConnectionLimit(maxConnections: maxConnections, logger: logger)
        bodyBudget = BodyBudget(limit: config.maxBufferedBodyBytes)
    }

    /// `configured`, or 3/4 of the soft open-file limit when that is smaller: the last quarter is left for backend
    /// connections, the cache files and the descriptors accepted past the cap in one listener wake-up.
    static func maxConnections(configured: Int, fileLimit: FileDescriptorLimit?) -> Int {
        guard let fileLimit else { return configured }
        return max(1, min(configured, fileLimit.soft / 4 * 3))
    }
}
