import Testing

@testable import RerankCache
@testable import RerankCore

/// A store whose every lookup fails, as a broken disk or a dropped Redis would.
struct FailingStore: CacheStore {
    let name = "failing"
    var entryCount: Int { 0 }
    func lookup(_ keys: [CacheKey]) async throws(CacheError) -> [CachedScore?] { throw .query(reason: "disk on fire") }
    func save(_ entries: [(key: CacheKey, score: CachedScore)]) {}
    func pendingScore(_ key: CacheKey) -> CachedScore? { nil }
}

@Suite struct TieredCacheTests {
    @Test func memoryThenStoreWithPromotion() async throws {
        let store = try SQLiteCacheStore(configuration: .init(path: temporarySQLitePath()), logger: testLogger)
        let memory = MemoryTier(capacity: 100, ttlSeconds: 0)
        let cache = TieredCache(memory: memory, store: store, logger: testLogger)
        cache.save([(testKey(1), 0.5)])
        try await store.flush()
        // Only the store has key 2.
        store.save([(testKey(2), .init(score: 0.25, storedAt: 0))])
        try await store.flush()
        let lookup = await cache.lookup([testKey(1), testKey(2), testKey(3)])
        #expect(lookup.scores == [0.5, 0.25, nil])
        #expect(lookup.memoryHits == 1)
        #expect(lookup.storeHits == 1)
        // Key 2 was promoted to memory.
        #expect(memory.score(for: testKey(2), now: 0)?.score == 0.25)
        store.close()
    }

    @Test func storeFailureIsAMissNotAnError() async {
        let memory = MemoryTier(capacity: 100, ttlSeconds: 0)
        let cache = TieredCache(memory: memory, store: FailingStore(), logger: testLogger)
        cache.save([(testKey(1), 0.5)])
        let lookup = await cache.lookup([testKey(1), testKey(2)])
        #expect(lookup.scores == [0.5, nil])
        #expect(lookup.storeFailed)
    }

    @Test func recheckSeesMemoryAndTheWriteQueue() throws {
        let store = try SQLiteCacheStore(configuration: .init(path: temporarySQLitePath()), logger: testLogger)
        let cache = TieredCache(memory: nil, store: store, logger: testLogger)
        #expect(cache.recheck(testKey(1)) == nil)
        cache.save([(testKey(1), 0.75)])
        #expect(cache.recheck(testKey(1)) == 0.75)
        store.close()
    }
}
