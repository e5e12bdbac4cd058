/// A persistent store that keeps each model's cache generation, so a purge (which advances it) outlives a
/// restart and reaches every replica sharing the store.
///
/// Advancing the generation deletes nothing: the generation is part of every cache key (``CacheKeyEncoder``), so
/// the model's earlier scores can no longer be looked up and age out by the store's TTL and `max_entries`
/// (`rerank-proxy cache purge` also deletes them, by model tag: ``CacheAdministration/purge(tag:)``).
/// ```swift
/// let generation = try await store.advanceGeneration(model: "bge-reranker-v2-m3")   // 1, 2, …
/// let all = try await store.generations(models: ["bge-reranker-v2-m3"])             // ["bge-reranker-v2-m3": 1]
/// ```
public protocol GenerationStore: Sendable {
    /// The stored generation of each model that has one (never purged: absent).
    func generations(models: [String]) async throws(CacheError) -> [String: UInt64]
    /// Adds one to the model's stored generation and returns the new value; atomic against other replicas.
    func advanceGeneration(model: String) async throws(CacheError) -> UInt64
    /// Sets the model's stored generation to `generation` when it is lower (never lowers it) and returns the
    /// stored value; atomic against other replicas. `rerank-proxy cache import` uses it so that scores keyed
    /// under the exporting store's generation are the ones the importing store's proxies look up.
    func raiseGeneration(model: String, to generation: UInt64) async throws(CacheError) -> UInt64
}
