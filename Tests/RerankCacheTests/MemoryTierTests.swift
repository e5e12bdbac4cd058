import Testing

@testable import RerankCache
@testable import RerankCore

@Suite struct MemoryTierTests {
    @Test func storesAndReturnsExactScores() {
        let memory = MemoryTier(capacity: 10, ttlSeconds: 0)
        memory.insert(testKey(1), .init(score: 0.1 + 0.2, storedAt: 0))
        #expect(memory.score(for: testKey(1), now: 100)?.score.bitPattern == (0.1 + 0.2).bitPattern)
        #expect(memory.score(for: testKey(2), now: 100) == nil)
        #expect(memory.count == 1)
    }

    @Test func staysWithinCapacity() {
        let memory = MemoryTier(capacity: 8, ttlSeconds: 0)
        for n in 0..<100 { memory.insert(testKey(n), .init(score: Double(n), storedAt: 0)) }
        #expect(memory.count == 8)
        let survivors = (0..<100).filter { memory.score(for: testKey($0), now: 0) != nil }
        #expect(survivors.count == 8)
    }

    @Test func recentlyReadEntriesSurviveEviction() {
        let memory = MemoryTier(capacity: 4, ttlSeconds: 0)
        for n in 0..<4 { memory.insert(testKey(n), .init(score: Double(n), storedAt: 0)) }
        // Read 0 and 1: they get a second chance, so the next two inserts evict 2 and 3.
        _ = memory.score(for: testKey(0), now: 0)
        _ = memory.score(for: testKey(1), now: 0)
        memory.insert(testKey(10), .init(score: 10, storedAt: 0))
        memory.insert(testKey(11), .init(score: 11, storedAt: 0))
        #expect(memory.score(for: testKey(0), now: 0) != nil)
        #expect(memory.score(for: testKey(1), now: 0) != nil)
        #expect(memory.score(for: testKey(2), now: 0) == nil)
        #expect(memory.score(for: testKey(3), now: 0) == nil)
    }

    @Test func expiredEntriesMiss() {
        let memory = MemoryTier(capacity: 4, ttlSeconds: 60)
        memory.insert(testKey(1), .init(score: 1, storedAt: 1000))
        #expect(memory.score(for: testKey(1), now: 1060) != nil)
        #expect(memory.score(for: testKey(1), now: 1061) == nil)
    }

    @Test func largeCapacityIsSharded() {
        let memory = MemoryTier(capacity: 100_000, ttlSeconds: 0)
        for n in 0..<5000 { memory.insert(testKey(n), .init(score: Double(n), storedAt: 0)) }
        #expect(memory.count == 5000)
        #expect(memory.capacity >= 100_000)
        #expect((0..<5000).allSatisfy { memory.score(for: testKey($0), now: 0)?.score == Double($0) })
    }
}
