import Foundation
import RerankCache
import RerankCore
import TestSupport
import Testing

@testable import RerankProxyApp

/// A policy with two models on `store` (SQLite in a fresh file, or the shared test Redis under a fresh prefix).
func adminPolicy(_ store: CacheConfig.Store, backendURL: String = "http://127.0.0.1:9", ttl: DurationValue = .init(.seconds(3600), text: "1h")) -> PolicyConfig {
    var policy = testPolicy(backends: [BackendConfig(name: "fake-0", url: backendURL)], store: store)
    policy.models.append(ModelConfig(name: "other-model", backends: [BackendConfig(name: "fake-0", url: backendURL)]))
    policy.cache.ttl = ttl
    policy.cache.redis.url = sharedRedisURL ?? "redis://127.0.0.1:1/0"
    policy.cache.redis.prefix = "rrapp:\(UUID().uuidString.prefix(8)):"
    policy.cache.redis.timeout = DurationValue(.seconds(2), text: "2s")
    return policy
}

/// `n` keys of `model` (two tenants, two generations) with scores whose bit patterns are awkward.
func seedEntries(_ model: String, _ n: Int, storedAt: Int64) -> [ExportedScore] {
    (0..<n).map { i in
        let encoder = CacheKeyEncoder(model: model, revision: "", settings: .init(), query: "q\(i % 3)", namespace: i % 2 == 0 ? nil : "t", generation: UInt64(i % 2))
        // Not -0.0: SQLite reads an integral REAL back as +0.0 (a property of the SQLite tier, not of export).
        let score: Double = [-5e-324, .pi, 1e-300, .leastNonzeroMagnitude, -7.25, 0.1 + 0.2][i % 6] * Double(i + 1)
        return ExportedScore(key: encoder.key(document: "\(model) \(i)"), score: score, storedAt: storedAt - Int64(i % 50))
    }
}

/// `rerank-proxy cache …` through ``CacheAdmin`` on real files and a real Redis.
@Suite(.serialized, .enabled(if: sharedRedisURL != nil, "REDIS_URL is not set: start redis-server and export REDIS_URL (scripts/test.sh does)"))
struct CacheAdminTests {
    let now = Int64(Date().timeIntervalSince1970)

    func admin(_ policy: PolicyConfig) throws -> CacheAdmin { try CacheAdmin(policy: policy, creating: true, logger: quietLogger) }

    /// Every score of `entries` in `admin`'s store, bit for bit (read back through an export of the whole store).
    func expectHolds(_ admin: CacheAdmin, exactly entries: [ExportedScore], sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let out = temporaryDirectory() + "-check.ndjson"
        #expect(try await admin.export(to: out) == entries.count, sourceLocation: sourceLocation)
        let text = try String(contentsOfFile: out, encoding: .utf8)
        var stored: [CacheKey: UInt64] = [:]
        for line in text.split(separator: "\n").dropFirst() {
            let entry = try CacheExportFormat.entry(line, decoder: JSONDecoder())
            stored[entry.key] = entry.score.bitPattern
        }
        #expect(stored == Dictionary(uniqueKeysWithValues: entries.map { ($0.key, $0.score.bitPattern) }), sourceLocation: sourceLocation)
    }

    @Test func exportFromSQLiteThenImportIntoRedisAndBackGivesTheSameScoresBitExactly() async throws {
        let sqlite = try admin(adminPolicy(.sqlite))
        let entries = seedEntries("test-model", 1_500, storedAt: now) + seedEntries("other-model", 300, storedAt: now)
        #expect(try await sqlite.store.importScores(entries) == entries.count)
        let file = temporaryDirectory() + "-sqlite.ndjson"
        #expect(try await sqlite.export(to: file) == entries.count)
        let header = try CacheExportFormat.header(try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n")[0])
        #expect(header.models["test-model"] == Hex.word(CacheKey.modelTag("test-model")))
        #expect(header.store == "sqlite")

        let redisPolicy = adminPolicy(.redis)
        let redis = try admin(redisPolicy)
        #expect(try await redis.importFile(file) == .init(read: entries.count, written: entries.count))
        try await expectHolds(redis, exactly: entries)
        // What a proxy on that Redis reads: the same bits.
        let reader = try RedisCacheStore(configuration: .init(url: redisPolicy.cache.redis.url, prefix: redisPolicy.cache.redis.prefix, timeout: .seconds(2)), logger: quietLogger)
        let found = try await reader.lookup(entries.map(\.key))
        #expect(zip(found, entries).allSatisfy { $0?.score.bitPattern == $1.score.bitPattern })
        reader.close()

        // And back: Redis → file → a new SQLite file, one model only.
        let back = temporaryDirectory() + "-redis.ndjson"
        #expect(try await redis.export(to: back, model: "other-model") == 300)
        let second = try admin(adminPolicy(.sqlite))
        #expect(try await second.importFile(back) == .init(read: 300, written: 300))
        try await expectHolds(second, exactly: Array(entries.suffix(300)))
        #expect(try await second.stats().models.map(\.entries) == [0, 300])
        // Into a store whose policy serves only test-model: imported all the same, and the summary says whose they are.
        var narrow = adminPolicy(.sqlite)
        narrow.models.removeLast()
        let third = try admin(narrow)
        let imported = try await third.importFile(back)
        #expect(imported == .init(read: 300, written: 300, otherModels: 300))
        #expect(imported.summary.hasSuffix("; 300 of the file's scores belong to models this policy does not serve"))
        third.close()
        for admin in [sqlite, redis, second] { admin.close() }
    }

    @Test func aLineLongerThanTheLimitIsRefusedNamingItWithoutReadingTheRest() throws {
        let file = temporaryDirectory() + "-long.ndjson"
        // Line 2 is 5,000 bytes with no newline after it: the reader stops at its limit instead of buffering it all.
        try Data(("short\n" + String(repeating: "x", count: 5_000)).utf8).write(to: URL(fileURLWithPath: file))
        var reader = try LineReader(path: file, maxLineBytes: 1_000)
        defer { reader.close() }
        #expect(try reader.next(path: file)?.line == "short")
        let error = #expect(throws: CacheAdmin.Failure.self) { try reader.next(path: file) }
        #expect(error?.description.contains("\(file):2: longer than 1000 bytes") == true, "\(String(describing: error))")
        // Lines up to the limit still read whole.
        try Data((String(repeating: "y", count: 1_000) + "\nz").utf8).write(to: URL(fileURLWithPath: file))
        var exact = try LineReader(path: file, maxLineBytes: 1_000)
        defer { exact.close() }
        #expect(try exact.next(path: file)?.line.count == 1_000)
        #expect(try exact.next(path: file)?.line == "z")
    }

    @Test func aCorruptLineIsRefusedNamingItAndNothingIsImported() async throws {
        let source = try admin(adminPolicy(.sqlite))
        _ = try await source.store.importScores(seedEntries("test-model", 10, storedAt: now))
        let file = temporaryDirectory() + "-corrupt.ndjson"
        _ = try await source.export(to: file)
        source.close()
        var lines = try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n").map(String.init)
        let target = try admin(adminPolicy(.redis))
        for (bad, reason) in [
            (String(lines[5].dropLast(3)), "not a score line"),  // truncated JSON
            (lines[5].replacingOccurrences(of: "\"s\":\"", with: "\"s\":\"z"), "\"s\" must be 16 hex digits"),
            (lines[5].replacingOccurrences(of: "\"k\":\"", with: "\"k\":\"00"), "\"k\" must be 64 hex digits"),
        ] {
            let original = lines[5]
            lines[5] = bad
            try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: file))
            lines[5] = original
            do {
                _ = try await target.importFile(file)
                Issue.record("a corrupt line was accepted: \(bad)")
            } catch {
                #expect(error.description.contains("\(file):6: \(reason)"), "\(error)")
            }
        }
        try Data("{\"format\":\"rerank-proxy-cache\",\"version\":2,\"store\":\"x\",\"exported_at\":0,\"models\":{}}\n".utf8).write(to: URL(fileURLWithPath: file))
        await #expect(throws: CacheAdmin.Failure.self) { try await target.importFile(file) }
        #expect(try await target.stats().entries == 0)
        target.close()
    }

    /// A NaN or infinite score is no backend's answer (the pool refuses one; a proxy would serve it as `null`), and
    /// SQLite cannot even store NaN (NOT NULL): import refuses the line during its check, before writing anything.
    @Test func aNonFiniteScoreLineIsRefusedNamingItAndNothingIsImported() async throws {
        let source = try admin(adminPolicy(.sqlite))
        _ = try await source.store.importScores(seedEntries("test-model", 3, storedAt: now))
        let file = temporaryDirectory() + "-nonfinite.ndjson"
        _ = try await source.export(to: file)
        source.close()
        var lines = try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n").map(String.init)
        let good = lines[2]
        for store in [CacheConfig.Store.sqlite, .redis] {
            let target = try admin(adminPolicy(store))
            for bits in ["7ff8000000000000", "7ff0000000000000", "fff0000000000000"] {
                let range = good.range(of: "\"s\":\"")!
                lines[2] = String(good[..<range.upperBound]) + bits + String(good[range.upperBound...].dropFirst(16))
                try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: file))
                do {
                    let imported = try await target.importFile(file)
                    Issue.record("a score with bits \(bits) was imported into \(store): \(imported)")
                } catch {
                    #expect(error.description.contains("\(file):3: \"s\" is not a finite number"), "\(error)")
                }
            }
            #expect(try await target.stats().entries == 0)
            target.close()
        }
    }

    @Test func aRedisScoreWithAShortTTLBecomesAMissAndImportedEntriesGetTheRemainingTTL() async throws {
        let policy = adminPolicy(.redis, ttl: .init(.milliseconds(1500), text: "1500ms"))
        let store = try RedisCacheStore(
            configuration: .init(url: policy.cache.redis.url, prefix: policy.cache.redis.prefix, timeout: .seconds(2), ttl: .milliseconds(300)),
            logger: quietLogger
        )
        let key = seedEntries("test-model", 1, storedAt: now)[0].key
        #expect(await store.storeNow([(key, 0.5)]))
        #expect(try await store.lookup([key]).first??.score == 0.5)
        try await until { (try? await store.lookup([key]).first ?? nil) == nil }

        // Imported with the policy's 1.5 s TTL: fresh entries live, then expire by themselves; old ones never land.
        let admin = try admin(policy)
        let fresh = seedEntries("test-model", 20, storedAt: now).map { ExportedScore(key: $0.key, score: $0.score, storedAt: now) }
        let old = seedEntries("other-model", 5, storedAt: now - 10)
        #expect(try await admin.store.importScores(fresh + old) == fresh.count)
        #expect(try await store.lookup(fresh.map(\.key)).allSatisfy { $0 != nil })
        #expect(try await store.lookup(old.map(\.key)).allSatisfy { $0 == nil })
        try await until { (try? await store.lookup(fresh.map(\.key)))?.allSatisfy { $0 == nil } ?? false }
        admin.close()
        store.close()
    }

    @Test func purgeAdvancesTheGenerationThenDeletesEveryStoredScoreOfTheModelOnly() async throws {
        for store in [CacheConfig.Store.sqlite, .redis] {
            let admin = try admin(adminPolicy(store))
            let mine = seedEntries("test-model", 120, storedAt: now)
            let other = seedEntries("other-model", 30, storedAt: now)
            _ = try await admin.store.importScores(mine + other)
            #expect(try await admin.stats().models.map(\.entries) == [120, 30])
            #expect(try await admin.purge(model: "test-model") == .init(model: "test-model", generation: 1, deleted: 120))
            #expect(try await admin.store.generations(models: ["test-model"]) == ["test-model": 1])
            let stats = try await admin.stats()
            #expect(stats.entries == 30)
            #expect(stats.models.map(\.entries) == [0, 30])
            try await expectHolds(admin, exactly: other)
            // A model the policy does not list is refused unless forced.
            await #expect(throws: CacheAdmin.Failure.self) { try await admin.purge(model: "gone-model") }
            #expect(try await admin.purge(model: "gone-model", force: true).deleted == 0)
            admin.close()
        }
    }

    @Test func aSecondPassDeletesScoresARunningProxyWroteUnderTheOldGenerationMeanwhile() async throws {
        for store in [CacheConfig.Store.sqlite, .redis] {
            let admin = try admin(adminPolicy(store))
            _ = try await admin.store.importScores(seedEntries("test-model", 10, storedAt: now))
            // What a proxy that has not yet re-read the generation flushes between the passes: generation-0 keys.
            let late = ExportedScore(
                key: CacheKeyEncoder(model: "test-model", revision: "", settings: .init(), query: "late", generation: 0).key(document: "d"),
                score: 0.5, storedAt: now
            )
            let store = admin.store
            let purged = try await admin.purge(model: "test-model") { _ = try? await store.importScores([late]) }
            #expect(purged.deleted == 10)
            #expect(purged.late == 1)
            #expect(try await admin.stats().models.first?.entries == 0)
            admin.close()
        }
    }

    /// The generation is part of every key: scores exported from a store where the model was purged are keyed under
    /// its generation, so an import into a fresh store must bring the generation along or no proxy ever finds them.
    @Test func importIntoAFreshStoreCarriesThePurgedModelsGenerationSoItsScoresAreFound() async throws {
        for (from, to) in [(CacheConfig.Store.sqlite, CacheConfig.Store.redis), (.redis, .sqlite)] {
            let source = try admin(adminPolicy(from))
            #expect(try await source.purge(model: "test-model").generation == 1)
            #expect(try await source.purge(model: "test-model").generation == 2)
            // What a proxy on the source stores after the purges: keys of generation 2.
            let encoder = CacheKeyEncoder(model: "test-model", revision: "", settings: .init(), query: "q", generation: 2)
            let entries = (0..<20).map { ExportedScore(key: encoder.key(document: "doc \($0)"), score: Double($0) / 7, storedAt: now) }
            #expect(try await source.store.importScores(entries) == entries.count)
            let file = temporaryDirectory() + "-generations.ndjson"
            #expect(try await source.export(to: file) == entries.count)

            let target = try admin(adminPolicy(to))
            #expect(try await target.importFile(file) == .init(read: entries.count, written: entries.count))
            // A proxy on the target keys with the target's stored generation (0 when it has none).
            let generation = try await target.store.generations(models: ["test-model"])["test-model"] ?? 0
            #expect(generation == 2)
            let served = CacheKeyEncoder(model: "test-model", revision: "", settings: .init(), query: "q", generation: generation)
            let keys = (0..<20).map { served.key(document: "doc \($0)") }
            #expect(keys == entries.map(\.key))
            // Never lowered: a store purged more often than the file's keeps its generation (the file's scores stay unreachable).
            let purgedMore = try admin(adminPolicy(to))
            for _ in 0..<3 { _ = try await purgedMore.purge(model: "test-model") }
            _ = try await purgedMore.importFile(file)
            #expect(try await purgedMore.store.generations(models: ["test-model"]) == ["test-model": 3])
            for admin in [source, target, purgedMore] { admin.close() }
        }
    }

    /// An export that fails leaves no file that would import as a (smaller) cache, and does not destroy an earlier one.
    @Test func aFailedExportLeavesNoFileAndKeepsAnEarlierExport() async throws {
        var policy = adminPolicy(.redis)
        policy.cache.redis.url = "redis://127.0.0.1:1/0"  // nothing listens: every command fails
        let admin = try admin(policy)
        let out = temporaryDirectory() + "-failed.ndjson"
        await #expect(throws: CacheAdmin.Failure.self) { try await admin.export(to: out) }
        #expect(!FileManager.default.fileExists(atPath: out))
        #expect(!FileManager.default.fileExists(atPath: out + ".partial"))
        try Data("an earlier export\n".utf8).write(to: URL(fileURLWithPath: out))
        await #expect(throws: CacheAdmin.Failure.self) { try await admin.export(to: out) }
        #expect(try String(contentsOfFile: out, encoding: .utf8) == "an earlier export\n")
        admin.close()
    }

    @Test func storeNoneIsAClearError() throws {
        var policy = adminPolicy(.sqlite)
        policy.cache.store = .none
        #expect(throws: CacheAdmin.Failure.self) { try CacheAdmin(policy: policy, logger: quietLogger) }
        do { _ = try CacheAdmin(policy: policy, logger: quietLogger) } catch { #expect(error.description.contains("cache.store: none")) }
    }
}
