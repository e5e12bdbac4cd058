import Logging
import RerankCore

/// Writes ``RedisCacheStore``'s queued scores to Redis every `flushInterval`, in pipelines, as a ``PeriodicWork``
/// on the app's timer loop; when the loop stops it writes what is left (one last try) and closes the pool.
///
/// Register the loop before the HTTP server so that it stops after the server has finished its requests.
public struct RedisCacheWriter: PeriodicWork {
    let store: RedisCacheStore
    let flushInterval: Duration
    let logger: Logger

    public var name: String { "redis-writer" }
    public var interval: Duration { flushInterval }

    public init(store: RedisCacheStore, flushInterval: Duration = .milliseconds(100), logger: Logger) {
        self.store = store
        self.flushInterval = flushInterval
        self.logger = logger
    }

    public func tick() async { await flush() }

    /// One last write of what is queued, then the pool closed.
    public func finish() async {
        await flush()
        store.close()
        logger.info("Redis cache closed", metadata: [
            "rerank.cache.written": "\(store.entryCount)", "rerank.cache.pending": "\(store.pendingCount)",
        ])
    }

    private func flush() async {
        do {
            try await store.flush()
        } catch {
            // The store and pool log when writes start and stop failing; each retry is only worth a debug line.
            logger.debug("redis flush failed; entries stay queued", metadata: ["error.type": "\(error)"])
        }
    }
}
