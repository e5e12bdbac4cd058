import Logging
import RerankCore
import Synchronization

/// Makes ``SQLiteCacheStore`` writes durable, as a ``PeriodicWork`` on the app's timer loop: it commits queued
/// scores in batches every `flushInterval`, sweeps expired and surplus rows every `sweepInterval` (and once at
/// start), and when the loop stops flushes what is left and closes the database.
///
/// Register the loop before the HTTP server so that it stops after the server has finished its requests.
public final class SQLiteCacheWriter: PeriodicWork {
    let store: SQLiteCacheStore
    let flushInterval: Duration
    let sweepInterval: Duration
    let time: TimeSource
    let logger: Logger
    /// When the next time-driven sweep is due (the overflow sweep runs whenever a flush leaves too many rows).
    private let nextSweep: Mutex<Duration>

    public var name: String { "sqlite-writer" }
    public var interval: Duration { flushInterval }

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
        self.nextSweep = Mutex(time.now + sweepInterval)
    }

    /// Sweeps once, so a restart with a lower max_entries or an elapsed TTL applies at once.
    public func start() async {
        await sweep()
        nextSweep.withLock { $0 = time.now + sweepInterval }
    }

    /// Flushes, then sweeps when the sweep is due or the flush left more rows than `max_entries`.
    public func tick() async {
        await flush()
        let now = time.now
        let overflowing = store.configuration.maxEntries > 0 && store.entryCount > store.configuration.maxEntries
        let due = nextSweep.withLock { next in
            guard now >= next || overflowing else { return false }
            next = now + sweepInterval
            return true
        }
        if due { await sweep() }
    }

    /// The last flush, then the database closed (the timer loop calls it from an uncancelled task).
    public func finish() async {
        await flush()
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
