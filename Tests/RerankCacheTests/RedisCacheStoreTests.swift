import Foundation
import TestSupport
import Testing

@testable import RerankCache
@testable import RerankCore

/// RedisCacheStore against a real Redis (REDIS_URL): exact bit patterns, TTL, prefix, binary keys, one MGET.
// Skipped, visibly, when REDIS_URL is unset: `.ci/run` and `scripts/test.sh` start a redis-server and set it.
@Suite(.enabled(if: sharedRedisURL != nil, "REDIS_URL is not set: start redis-server and export REDIS_URL (scripts/test.sh does)"))
struct RedisCacheStoreTests {
    let url = sharedRedisURL ?? ""

    func makeStore(prefix: String = uniquePrefix(), ttl: Duration = .seconds(60), url: String? = nil) throws -> RedisCacheStore {
        try RedisCacheStore(configuration: .init(url: url ?? self.url, prefix: prefix, timeout: .seconds(1), ttl: ttl), logger: testLogger)
    }

    @Test func scoresRoundTripWithTheirExactBitPatterns() async throws {
        let prefix = uniquePrefix()
        let writer = try makeStore(prefix: prefix)
        let values: [Double] = [0.1, -0.0, .pi, 1e-300, -7.25, .leastNonzeroMagnitude, .greatestFiniteMagnitude, 0.1 + 0.2, .nan]
        writer.save(values.enumerated().map { (testKey($0.offset), CachedScore(score: $0.element, storedAt: 1)) })
        #expect(try await writer.flush() == values.count)
        #expect(writer.entryCount == values.count)
        // A second store (an empty write queue: every answer comes from Redis).
        let reader = try makeStore(prefix: prefix)
        let found = try await reader.lookup(values.indices.map { testKey($0) } + [testKey(999)])
        for (i, value) in values.enumerated() {
            #expect(found[i]?.score.bitPattern == value.bitPattern, "value \(i)")
        }
        #expect(found.last! == nil)
        #expect(reader.errorCount == 0)
    }

    @Test func keysArePrefixPlusRawKeyBytesWithTheTTLAndValuesAreLittleEndianBits() async throws {
        let prefix = uniquePrefix()
        let store = try makeStore(prefix: prefix, ttl: .seconds(60))
        store.save([(testKey(1), CachedScore(score: 0.75, storedAt: 1))])
        try await store.flush()
        let key = Array(prefix.utf8) + testKey(1).bytes
        let replies = try redisRunBytes(url, [[Array("GET".utf8), key], [Array("PTTL".utf8), key]])
        #expect(replies[0] == .string(withUnsafeBytes(of: (0.75).bitPattern.littleEndian) { Array($0) }))
        guard case .integer(let pttl) = replies[1] else { Issue.record("no PTTL: \(replies[1])"); return }
        #expect(pttl > 0 && pttl <= 60_000)

        let forever = try makeStore(prefix: prefix, ttl: .zero)
        forever.save([(testKey(2), CachedScore(score: 1, storedAt: 1))])
        try await forever.flush()
        #expect(try redisRunBytes(url, [[Array("PTTL".utf8), Array(prefix.utf8) + testKey(2).bytes]]) == [.integer(-1)])
    }

    @Test func keysWithAnyBytesAreStoredApart() async throws {
        // Raw digests contain NUL, CR/LF and bytes above 0x7f; keys differing only there must not collide.
        let zeros = CacheKey(bytes: [UInt8](repeating: 0, count: 32))!
        let crlf = CacheKey(bytes: [UInt8](repeating: 0, count: 30) + [13, 10])!
        let high = CacheKey(bytes: [UInt8](repeating: 0xff, count: 32))!
        let prefix = uniquePrefix()
        let store = try makeStore(prefix: prefix)
        store.save([(zeros, CachedScore(score: 1, storedAt: 1)), (crlf, CachedScore(score: 2, storedAt: 1)), (high, CachedScore(score: 3, storedAt: 1))])
        try await store.flush()
        let found = try await makeStore(prefix: prefix).lookup([high, zeros, crlf])
        #expect(found.map { $0?.score } == [3, 1, 2])
    }

    @Test func aPrefixSeparatesStores() async throws {
        let a = try makeStore()
        a.save([(testKey(5), CachedScore(score: 5, storedAt: 1))])
        try await a.flush()
        #expect(try await makeStore().lookup([testKey(5)]) == [nil])
    }

    @Test func queuedScoresAreVisibleBeforeTheFlush() async throws {
        let prefix = uniquePrefix()
        let store = try makeStore(prefix: prefix)
        store.save([(testKey(7), CachedScore(score: 0.7, storedAt: 1))])
        #expect(store.pendingScore(testKey(7))?.score == 0.7)
        #expect(try await store.lookup([testKey(7)])[0]?.score == 0.7)
        #expect(try redisRunBytes(url, [[Array("GET".utf8), Array(prefix.utf8) + testKey(7).bytes]]) == [.null])
        try await store.flush()
        #expect(store.pendingCount == 0)
        #expect(try await makeStore(prefix: prefix).lookup([testKey(7)])[0]?.score == 0.7)
    }

    @Test func aValueOfAnotherLengthIsAMissCountedAsAnError() async throws {
        let prefix = uniquePrefix()
        _ = try redisRunBytes(url, [[Array("SET".utf8), Array(prefix.utf8) + testKey(1).bytes, Array("0.5".utf8)]])
        let store = try makeStore(prefix: prefix)
        #expect(try await store.lookup([testKey(1)]) == [nil])
        #expect(store.errorCount == 1)
    }

    @Test func storeNowWritesAtOnce() async throws {
        let prefix = uniquePrefix()
        let store = try makeStore(prefix: prefix)
        #expect(await store.storeNow([(key: testKey(3), score: 0.3)]))
        #expect(try await makeStore(prefix: prefix).lookup([testKey(3)])[0]?.score == 0.3)
    }
}

/// Round trips counted on a Redis of this test's own (INFO commandstats is server-wide).
@Suite(.enabled(if: sharedRedisURL != nil && redisServerPath != nil, "REDIS_URL is not set or redis-server is not installed"))
struct RedisRoundTripTests {
    @Test func aLookupIsOneMGETAndAFlushPipelinesItsSETs() async throws {
        let server = try PrivateRedisServer()
        defer { server.stop() }
        let store = try RedisCacheStore(configuration: .init(url: server.url, timeout: .seconds(1), ttl: .seconds(60), pipelineSize: 100), logger: testLogger)
        store.save((0..<250).map { (testKey($0), CachedScore(score: Double($0), storedAt: 1)) })
        try await store.flush()
        #expect(try commandCalls(server.url, "set") == 250)
        let before = try commandCalls(server.url, "mget")
        let found = try await store.lookup((0..<300).map { testKey($0) })
        #expect(found.compactMap { $0 }.count == 250)
        #expect(try commandCalls(server.url, "mget") - before == 1)
        #expect(try commandCalls(server.url, "get") == 0)
    }
}
