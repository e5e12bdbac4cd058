import HummingbirdCore
import Logging

/// Caps open client connections at `server.max_connections`: at the cap Hummingbird's listener stops accepting, so
/// new connections wait in the kernel's listen backlog (as nginx does at `worker_connections`) instead of taking file
/// descriptors. Accepting resumes as soon as one closes.
///
/// The listener accepts up to NIO's `maxMessagesPerRead` (4) connections per wake-up, so the count can pass the cap
/// by at most 3. Logs a warning when the cap is reached and a notice once the count is back under 90% of it, so a
/// server hovering at the cap does not log every connection.
///
/// Hummingbird calls it on the listener's event loop only, so the plain stored state needs no lock.
struct ConnectionLimit: AvailableConnectionsDelegate {
    let maxConnections: Int
    let logger: Logger
    private(set) var open = 0
    private var full = false

    init(maxConnections: Int, logger: Logger) {
        self.maxConnections = maxConnections
        self.logger = logger
    }

    mutating func connectionOpened() {
        open += 1
        if !full, open >= maxConnections {
            full = true
            logger.warning(
                "server.max_connections reached: new connections wait in the listen backlog",
                metadata: ["rerank.connections": "\(open)"]
            )
        }
    }

    mutating func connectionClosed() {
        open -= 1
        if full, open <= maxConnections * 9 / 10 {
            full = false
            logger.notice("connections back under server.max_connections", metadata: ["rerank.connections": "\(open)"])
        }
    }

    func isAcceptingNewConnections() -> Bool {
        open < maxConnections
    }
}
