import Logging
import RerankCache

/// The job store beside the score cache: SQLite tables in its file, Redis keys under its prefix, or memory.
///
/// Jobs are kept in memory only (and a restarted proxy forgets them) when there is no durable store: `cache.store:
/// none`, or a store that could not be opened. The proxy says so at start-up and in every job's `durable` field.
func makeJobStore(cache store: (any CacheStore)?, logger: Logger) -> any JobStore {
    switch store {
    case let sqlite as SQLiteCacheStore:
        do {
            return try SQLiteJobStore(cache: sqlite)
        } catch {
            logger.error("rerank jobs are kept in memory only: the job tables cannot be created", metadata: ["error.type": "\(error)"])
        }
    case let redis as RedisCacheStore:
        return RedisJobStore(cache: redis)
    default:
        logger.notice("rerank jobs are kept in memory only (no durable cache store): a restart loses them")
    }
    return MemoryJobStore()
}
