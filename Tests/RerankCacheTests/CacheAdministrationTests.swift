import Foundation
import TestSupport
import Testing

@testable import RerankCache
@testable import RerankCore

/// Keys of `model` under several generations, tenants and queries: all share the model's tag.
func adminKeys(_ model: String, count: Int) -> [CacheKey] {
    (0..<count).map { i in
        CacheKeyEncoder(
            model: model, revision: "", settings: .init(), query: "q\(i % 7)", namespace: i % 5 == 0 ? "tenant" : nil, generation: UInt64(i % 3)
        ).key(document: "\(model) doc \(i)")
    }
}

/// Distinct scores with awkward bit patterns (negative subnormals, huge and tiny magnitudes). Not -0.0: SQLite
/// stores an integral REAL as an integer and reads it back as +0.0 (a property of the SQLite tier, not of export).
func adminScore(_ i: Int) -> Double {
    switch i % 6 {
    case 0: -Double.leastNonzeroMagnitude * Double(i + 1)
    case 1: .leastNonzeroMagnitude * Double(i)
    case 2: .pi * Double(i)
    case 3: 1e-300 / Double(i)
    default: sin(Double(i)) * 1e10
    }
}

/// Every page of an export (a Redis `SCAN` page covers only part of the keyspace).
func exportAll(_ store: any CacheAdministration, tag: UInt64? = nil) async throws -> [ExportedScore] {
    var entries: [ExportedScore] = []
    var cursor: String? = ""
    while let current = cursor {
        let page = try await store.exportPage(tag: tag, cursor: current)
        entries += page.entries
        cursor = page.next
    }
    return entries
}

/// The SQLite store's ``CacheAdministration`` on real files: range counts and deletes by model tag.
@Suite struct SQLiteCacheAdministrationTests {
    @Test func statsCountEachModelAndPurgeDeletesExactlyOneModelsRowsInBatchesKeepingTheEntryCount() async throws {
        let path = temporarySQLitePath()
        let now = Int64(Date().timeIntervalSince1970)
        let a = adminKeys("model-a", count: SQLiteCacheStore.purgeBatch * 2 + 1)  // three delete batches
        let b = adminKeys("model-b", count: 50)
        let store = try SQLiteCacheStore(configuration: .init(path: path), logger: testLogger)
        store.save((a + b).enumerated().map { ($1, CachedScore(score: adminScore($0), storedAt: now)) })
        try await store.flush()
        #expect(try await store.advanceGeneration(model: "model-a") == 1)

        let tagA = CacheKey.modelTag("model-a")
        let tagB = CacheKey.modelTag("model-b")
        let before = try await store.stats(tags: [tagA, tagB, CacheKey.modelTag("model-c")])
        #expect(before.entries == a.count + b.count)
        #expect(before.perTag == [tagA: a.count, tagB: b.count, CacheKey.modelTag("model-c"): 0])
        #expect(before.bytes > 0)

        #expect(try await store.purge(tag: tagA) == a.count)
        #expect(try await store.purge(tag: tagA) == 0)
        let after = try await store.stats(tags: [tagA, tagB])
        #expect(after.entries == b.count)
        #expect(after.perTag == [tagA: 0, tagB: b.count])
        #expect(try await store.lookup(a).allSatisfy { $0 == nil })
        let found = try await store.lookup(b)
        #expect(zip(found, a.count...).allSatisfy { $0?.score.bitPattern == adminScore($1).bitPattern })
        // The generation row is not a score and stays.
        #expect(try await store.generations(models: ["model-a"]) == ["model-a": 1])
        store.close()
        // The meta entry count on disk is exact: a reopened store reads it.
        let reopened = try SQLiteCacheStore(configuration: .init(path: path), logger: testLogger)
        #expect(reopened.entryCount == b.count)
        reopened.close()
    }

    @Test func importKeepsStoredAtSkipsExpiredEntriesAndNeverCountsAKeyTwice() async throws {
        let now = Int64(Date().timeIntervalSince1970)
        let store = try SQLiteCacheStore(configuration: .init(path: temporarySQLitePath(), ttlSeconds: 100), logger: testLogger)
        let keys = adminKeys("model-a", count: 4)
        let entries = [
            ExportedScore(key: keys[0], score: 0.5, storedAt: now - 10),
            ExportedScore(key: keys[1], score: -5e-324, storedAt: nil),
            ExportedScore(key: keys[2], score: 2.5, storedAt: now - 1000),  // expired under ttl 100 s
        ]
        #expect(try await store.importScores(entries) == 2)
        #expect(try await store.importScores([ExportedScore(key: keys[0], score: 0.75, storedAt: now - 20)]) == 1)
        #expect(store.entryCount == 2)
        #expect(try await store.stats(tags: []).entries == 2)
        let exported = Dictionary(uniqueKeysWithValues: try await exportAll(store).map { ($0.key, $0) })
        #expect(exported[keys[0]] == ExportedScore(key: keys[0], score: 0.75, storedAt: now - 20))
        #expect(exported[keys[1]]?.score.bitPattern == (-5e-324).bitPattern)
        #expect((exported[keys[1]]?.storedAt ?? 0) >= now)
        #expect(exported[keys[2]] == nil)
        store.close()
    }

    /// A file from a machine whose clock runs ahead carries times in the future; kept as they are, the rows would
    /// outlive this store's TTL by the skew. Import counts such an entry as stored now.
    @Test func importOfATimeInTheFutureStillExpiresOnTheTTL() async throws {
        let clock = FakeClock(1_000_000)
        let store = try SQLiteCacheStore(
            configuration: .init(path: temporarySQLitePath(), ttlSeconds: 60), logger: testLogger, now: { clock.now }
        )
        let key = adminKeys("model-a", count: 1)[0]
        #expect(try await store.importScores([ExportedScore(key: key, score: 0.5, storedAt: clock.now + 86_400)]) == 1)
        #expect(try await store.lookup([key])[0]?.score == 0.5)
        clock.advance(61)
        #expect(try await store.lookup([key])[0] == nil)
        store.close()
    }

    @Test func exportPagesWalkEveryRowOnceInKeyOrderAndCanBeLimitedToOneModel() async throws {
        let store = try SQLiteCacheStore(configuration: .init(path: temporarySQLitePath()), logger: testLogger)
        let now = Int64(Date().timeIntervalSince1970)
        let a = adminKeys("model-a", count: SQLiteCacheStore.exportPageSize + 3)
        let b = adminKeys("model-b", count: 10)
        store.save((a + b).map { ($0, CachedScore(score: 1, storedAt: now)) })
        try await store.flush()
        let everything = try await exportAll(store).map(\.key)
        #expect(everything.count == a.count + b.count)
        #expect(Set(everything) == Set(a + b))
        #expect(everything.map(\.bytes).elementsEqual(everything.map(\.bytes).sorted { $0.lexicographicallyPrecedes($1) }))
        #expect(Set(try await exportAll(store, tag: CacheKey.modelTag("model-b")).map(\.key)) == Set(b))
        store.close()
    }
}

/// The Redis store's ``CacheAdministration`` against a real Redis: SCAN + UNLINK by tag, never `KEYS`.
@Suite(.enabled(if: sharedRedisURL != nil, "REDIS_URL is not set: start redis-server and export REDIS_URL (scripts/test.sh does)"))
struct RedisCacheAdministrationTests {
    let url = sharedRedisURL ?? ""

    func makeStore(prefix: String, ttl: Duration = .seconds(60)) throws -> RedisCacheStore {
        try RedisCacheStore(configuration: .init(url: url, prefix: prefix, timeout: .seconds(2), ttl: ttl), logger: testLogger)
    }

    func exists(_ key: [UInt8]) throws -> Bool {
        try redisRunBytes(url, [[Array("EXISTS".utf8), key]]) == [.integer(1)]
    }

    @Test func statsCountEachModelAndPurgeUnlinksExactlyOneModelsScoreKeys() async throws {
        // Glob characters in the prefix must match literally: unescaped, the pattern would match the neighbour's keys
        // (`*` = "zz", `[a]` = "a", `?` = "b", `\:` = ":") and miss this store's own.
        let id = UUID().uuidString.prefix(8)
        let prefix = "rrtest:\(id):*:[a]?\\:"
        let store = try makeStore(prefix: prefix)
        let neighbour = try makeStore(prefix: "rrtest:\(id):zz:ab:")
        let a = adminKeys("model-a", count: 2_500)  // several SCAN pages
        let b = adminKeys("model-b", count: 40)
        let c = adminKeys("model-c", count: 3)
        #expect(await store.storeNow((a + b + c).enumerated().map { ($1, adminScore($0)) }))
        #expect(await neighbour.storeNow(a.prefix(5).map { ($0, 1.0) }))
        // Keys that are not scores: a lease and a generation of model A, a 32-byte job key, A's tag at the wrong length.
        let p = Array(prefix.utf8)
        let lease = p + RedisKeyspace.leaseInfix + a[0].bytes
        let generation = p + Array("gen:model-a".utf8)
        let job = p + Array("job:".utf8) + [UInt8](repeating: UInt8(ascii: "j"), count: 28)
        let short = p + Array(a[0].bytes.prefix(20))
        for key in [lease, generation, job, short] {
            _ = try redisRunBytes(url, [[Array("SET".utf8), key, Array("x".utf8)]])
        }
        let keysBefore = try commandCalls(url, "keys")

        let tagA = CacheKey.modelTag("model-a")
        let tagB = CacheKey.modelTag("model-b")
        let stats = try await store.stats(tags: [tagA, tagB])
        #expect(stats.entries == a.count + b.count + c.count)
        #expect(stats.perTag == [tagA: a.count, tagB: b.count])
        #expect(stats.otherEntries == c.count)
        #expect(stats.bytes > 0)

        #expect(try await store.purge(tag: tagA) == a.count)
        #expect(try await store.lookup(a).allSatisfy { $0 == nil })
        let found = try await store.lookup(b + c)
        #expect(zip(found, a.count...).allSatisfy { $0?.score.bitPattern == adminScore($1).bitPattern })
        for key in [lease, generation, job, short] { #expect(try exists(key)) }
        #expect(try await neighbour.lookup(Array(a.prefix(5))).allSatisfy { $0?.score == 1.0 })
        let after = try await store.stats(tags: [tagA, tagB])
        #expect(after.perTag == [tagA: 0, tagB: b.count])
        #expect(try commandCalls(url, "keys") == keysBefore)
        store.close()
        neighbour.close()
    }

    @Test func importSetsTheRemainingTTLAndExportReadsTheAgeBack() async throws {
        let prefix = uniquePrefix()
        let store = try makeStore(prefix: prefix, ttl: .seconds(60))
        let now = Int64(Date().timeIntervalSince1970)
        let keys = adminKeys("model-a", count: 3)
        let written = try await store.importScores([
            ExportedScore(key: keys[0], score: 0.25, storedAt: now - 20),
            ExportedScore(key: keys[1], score: 0.5, storedAt: nil),
            ExportedScore(key: keys[2], score: 0.75, storedAt: now - 100),  // past the 60 s TTL: skipped
        ])
        #expect(written == 2)
        func pttl(_ key: CacheKey) throws -> Int64 {
            guard case .integer(let ms)? = try redisRunBytes(url, [[Array("PTTL".utf8), Array(prefix.utf8) + key.bytes]]).first else { return -3 }
            return ms
        }
        #expect((38_000...40_000).contains(try pttl(keys[0])))
        #expect((58_000...60_000).contains(try pttl(keys[1])))
        #expect(try pttl(keys[2]) == -2)
        let exported = Dictionary(try await exportAll(store).map { ($0.key, $0) }) { first, _ in first }
        #expect(exported.count == 2)
        #expect(exported[keys[0]]?.score == 0.25)
        #expect(((now - 22)...(now - 18)).contains(exported[keys[0]]?.storedAt ?? 0))

        // Without a TTL: plain SET, and nothing is known about the age.
        let forever = try makeStore(prefix: uniquePrefix(), ttl: .zero)
        #expect(try await forever.importScores([ExportedScore(key: keys[2], score: 1, storedAt: now - 100_000)]) == 1)
        #expect(try await exportAll(forever) == [ExportedScore(key: keys[2], score: 1, storedAt: nil)])
        store.close()
        forever.close()
    }

    /// A key written under a longer TTL than this policy's (another proxy's policy, or one since shortened) has more
    /// left than `ttl`: its age is then 0, not negative; an export must never date a score in the future.
    @Test func exportNeverDatesAScoreInTheFuture() async throws {
        let prefix = uniquePrefix()
        let store = try makeStore(prefix: prefix, ttl: .seconds(60))
        let key = adminKeys("model-a", count: 1)[0]
        _ = try redisRunBytes(url, [[Array("SET".utf8), Array(prefix.utf8) + key.bytes, RedisKeyspace.encode(0.5), Array("PX".utf8), Array("3600000".utf8)]])
        let now = Int64(Date().timeIntervalSince1970)
        let exported = try await exportAll(store)
        #expect(exported.map(\.score) == [0.5])
        #expect((exported.first?.storedAt ?? .max) <= now + 1)
        store.close()
    }
}
