import Logging
import RerankCore
import ServiceLifecycle

/// The `Service` that makes ``SQLiteCacheStore`` writes durable: it commits queued scores in batches
/// every `flushInterval`, sweeps expired and surplus rows every `sweepInterval`, and on graceful
/// shutdown flushes what is left and closes the database.
///
/// Register it before the HTTP server so that it stops after the server has finished its requests.
public struct SQLiteCacheWriter: Service {
    let store: SQLiteCacheStore
    let flushInterval: Duration
    let sweepInterval: Duration
    let time: TimeSource
    let logger: Logger

    public init(
        store: SQLiteCacheStore,
        flushInterval: Duration = .seconds(1),
        sweepInterval: Duration = .seconds(60),
        time: TimeSource = .continuous,
        logger: Logger
    ) {
        self.store = store
        self.flushInterval = flushInterval
        self.sweepInterval = sweepInterval
        self.time = time
        self.logger = logger
    }

    public func run() async throws {
        // Sweep once at start so a restart with a lower max_entries or an elapsed TTL applies at once.
        await sweep()
        var nextSweep = time.now + sweepInterval
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            // Wake at once on graceful shutdown instead of finishing the interval.
            try? await cancelWhenGracefulShutdown { [time, flushInterval] in try await time.sleep(for: flushInterval) }
            await flush()
            if time.now >= nextSweep || store.entryCount > store.configuration.maxEntries && store.configuration.maxEntries > 0 {
                await sweep()
                nextSweep = time.now + sweepInterval
            }
        }
        // The last flush must happen even when this task was cancelled (GRDB refuses work in a cancelled
        // task), so it runs in a task of its own.
        let final = Task { await flush() }
        await final.value
        store.close()
        logger.info("SQLite cache closed", metadata: ["rerank.cache.entries": "\(store.entryCount)"])
    }

    private func flush() async {
        do {
            try await store.flush()
        } catch {
            // The store logs when commits start and stop failing; each retry is only worth a debug line.
            logger.debug("cache flush failed; entries stay queued", metadata: ["error.type": "\(error)"])
        }
    }

    private func sweep() async {
        do {
            let deleted = try await store.sweep()
            if deleted > 0 { logger.debug("cache sweep", metadata: ["rerank.cache.deleted": "\(deleted)"]) }
        } catch {
            logger.warning("cache sweep failed", metadata: ["error.type": "\(error)"])
        }
    }
}
