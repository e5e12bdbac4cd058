import InMemoryLogging
import Logging
import Synchronization
import Testing

@testable import RerankCache
@testable import RerankCore

/// A store whose lookups fail while `failing` is set (injected failures: a broken disk, a dropped Redis), and miss
/// otherwise.
final class SwitchableStore: CacheStore {
    let name = "switchable"
    let failing: Mutex<Bool>
    init(failing: Bool = false) { self.failing = Mutex(failing) }
    var entryCount: Int { 0 }
    func lookup(_ keys: [CacheKey]) async throws(CacheError) -> [CachedScore?] {
        if failing.withLock({ $0 }) { throw .query(reason: "disk on fire") }
        return [CachedScore?](repeating: nil, count: keys.count)
    }
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
        let cache = TieredCache(memory: memory, store: SwitchableStore(failing: true), logger: testLogger)
        cache.save([(testKey(1), 0.5)])
        let lookup = await cache.lookup([testKey(1), testKey(2)])
        #expect(lookup.scores == [0.5, nil])
        #expect(lookup.storeFailed)
    }

    /// A broken store fails every lookup: that is one warning when it starts and one note when it answers again,
    /// not a warning per request (the proxy's log would be nothing else).
    @Test func failingLookupsAreLoggedOncePerStateChangeNotPerRequest() async {
        let logs = InMemoryLogHandler()
        let store = SwitchableStore()
        let cache = TieredCache(memory: MemoryTier(capacity: 100, ttlSeconds: 0), store: store, logger: Logger(label: "tiered") { _ in logs })
        func count(_ level: Logger.Level) -> Int { logs.entries.filter { $0.level == level }.count }
        store.failing.withLock { $0 = true }
        for _ in 0..<5 { #expect(await cache.lookup([testKey(1)]).storeFailed) }
        #expect(count(.warning) == 1)
        store.failing.withLock { $0 = false }
        for _ in 0..<3 { #expect(await !cache.lookup([testKey(2)]).storeFailed) }
        #expect(count(.info) == 1)
        store.failing.withLock { $0 = true }
        for _ in 0..<3 { _ = await cache.lookup([testKey(3)]) }
        #expect(count(.warning) == 2)
        #expect(count(.info) == 1)
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
