import Logging
import RerankCore
import ServiceLifecycle

/// The `Service` that writes ``RedisCacheStore``'s queued scores to Redis every `flushInterval`, in pipelines,
/// and on graceful shutdown writes what is left (one last try) and closes the pool.
///
/// Register it before the HTTP server so that it stops after the server has finished its requests.
public struct RedisCacheWriter: Service {
    let store: RedisCacheStore
    let flushInterval: Duration
    let time: TimeSource
    let logger: Logger

    public init(store: RedisCacheStore, flushInterval: Duration = .milliseconds(100), time: TimeSource = .continuous, logger: Logger) {
        self.store = store
        self.flushInterval = flushInterval
        self.time = time
        self.logger = logger
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            try? await cancelWhenGracefulShutdown { [time, flushInterval] in try await time.sleep(for: flushInterval) }
            await flush()
        }
        let final = Task { await flush() }
        await final.value
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
