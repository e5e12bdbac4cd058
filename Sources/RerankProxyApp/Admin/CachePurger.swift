import Logging
import RerankCache
import RerankCore

/// Purges a model's cached scores (`POST /admin/purge`) by advancing its ``CacheGeneration``.
///
/// With a persistent store the generation is advanced there first (SQLite `meta` row, Redis `INCR`), so it
/// survives a restart and reaches every replica sharing Redis; a store that cannot take it fails the purge
/// (nothing changes), since a generation kept only in memory would bring the old scores back after a restart.
/// Without a store the generation lives in memory, like the only tier it guards.
/// ```swift
/// let generation = try await purger.purge(model: "bge-reranker-v2-m3")
/// ```
final class CachePurger: Sendable {
    enum Failure: Error, Equatable {
        case unknownModel(String)
        /// The store could not record the new generation; nothing was purged.
        case store(String)
    }

    private let runtime: RuntimeHolder
    private let generations: CacheGenerations
    private let store: (any GenerationStore)?
    private let logger: Logger

    init(runtime: RuntimeHolder, generations: CacheGenerations, store: (any GenerationStore)?, logger: Logger) {
        self.runtime = runtime
        self.generations = generations
        self.store = store
        self.logger = logger
    }

    /// Whether generations are kept in a store (and re-read: other replicas may purge, a reload may add a model).
    var hasStore: Bool { store != nil }

    /// Makes every score cached for `model` unreachable in every tier; returns the model's new generation.
    func purge(model: String) async throws(Failure) -> UInt64 {
        guard let served = runtime.current.models[model] else { throw .unknownModel(model) }
        let generation = served.generation
        guard let store else {
            let advanced = generation.advance()
            logger.notice("purged a model's cache", metadata: ["rerank.model": "\(model)", "rerank.cache.generation": "\(advanced)"])
            return advanced
        }
        do {
            let before = generation.current
            let stored = try await store.advanceGeneration(model: model)
            // A store that lost the row (a flushed Redis) answers a lower number: this replica still moves on.
            generation.raise(to: max(stored, before + 1))
        } catch {
            logger.error("purge failed: the store could not record the new generation", metadata: ["rerank.model": "\(model)", "error.type": "\(error)"])
            throw .store(error.description)
        }
        logger.notice("purged a model's cache", metadata: ["rerank.model": "\(model)", "rerank.cache.generation": "\(generation.current)"])
        return generation.current
    }

    /// Reads the served models' stored generations (at start, then every second); `false` when the store failed.
    @discardableResult
    func load() async -> Bool {
        guard let store else { return true }
        do {
            let names = runtime.current.models.all.map(\.name)
            for (model, stored) in try await store.generations(models: names) { generations.generation(of: model).raise(to: stored) }
            return true
        } catch {
            logger.debug("reading cache generations failed", metadata: ["error.type": "\(error)"])
            return false
        }
    }
}
