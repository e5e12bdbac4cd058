import Foundation
import RerankCore
import TestSupport
@testable import RerankProxyApp
import Testing

/// `POST /admin/purge` and `GET /admin/policy` over real HTTP: who may call them, and that a purged pair is
/// scored by the backend again in every tier, also after a restart.
@Suite(.serialized) struct AdminTests {
    static let adminKey = "sk-admin-0123456789"
    static let appKey = "sk-app-0123456789"
    static let admin = ["Authorization": "Bearer \(adminKey)"]

    func policy(_ url: String, store: CacheConfig.Store = .sqlite, sqlitePath: String? = nil) -> PolicyConfig {
        var policy = testPolicy(backends: [BackendConfig(name: "fake-0", url: url)], sqlitePath: sqlitePath, store: store)
        policy.auth.keys = [.init(name: "app", key: Self.appKey)]
        policy.auth.adminKeys = [Self.adminKey]
        return policy
    }

    @Test func onlyAnAdminKeyMayPurgeOrReadThePolicy() async throws {
        let fake = FakeRerankBackend()
        try await fake.run { url in
            try await withProxy(policy(url)) { proxy in
                let body = ["model": "test-model"]
                let none = try await proxy.post("/admin/purge", object: body)
                #expect(none.status == 401)
                #expect(none.header("WWW-Authenticate") == "Bearer")
                #expect(try await proxy.post("/admin/purge", object: body, headers: ["Authorization": "Bearer sk-wrong-0123456789"]).status == 401)
                let app = try await proxy.post("/admin/purge", object: body, headers: ["Authorization": "Bearer \(Self.appKey)"])
                #expect(app.status == 403)
                #expect((app.object["error"] as? [String: Any])?["message"] as? String == "this API key is not an admin key")
                #expect(try await proxy.get("/admin/policy", headers: ["X-API-Key": Self.appKey]).status == 403)
                #expect(try await proxy.get("/admin/policy").status == 401)

                #expect(try await proxy.post("/admin/purge", object: ["model": "nope"], headers: Self.admin).status == 404)
                #expect(try await proxy.post("/admin/purge", object: ["modl": "test-model"], headers: Self.admin).status == 400)
                let purged = try await proxy.post("/admin/purge", object: body, headers: Self.admin)
                #expect(purged.status == 200)
                #expect(purged.object["cache_generation"] as? Int == 1)
            }
        }
    }

    @Test func aGenerationIsNeverLoweredByAStaleRead() {
        let generation = CacheGeneration()
        generation.raise(to: 3)
        generation.raise(to: 1)  // a replica's read from before the last purge
        #expect(generation.current == 3)
        #expect(generation.advance() == 4)
    }

    @Test func withoutAdminKeysALoopbackClientMayPurge() async throws {
        let fake = FakeRerankBackend()
        let docs = documents(3)
        try await fake.run { url in
            try await withProxy(testPolicy(backends: [BackendConfig(name: "fake-0", url: url)])) { proxy in
                expectExact(try await proxy.post("/v1/rerank", object: ["query": "q", "documents": docs]), query: "q", documents: docs)
                // The test client is on 127.0.0.1; any other address gets 403 (AdminController.isLoopback).
                let reply = try await proxy.post("/admin/purge", object: ["model": "test-model"])
                #expect(reply.status == 200)
                #expect(try await proxy.post("/v1/rerank", object: ["query": "q", "documents": docs]).header("X-Rerank-Cache") == "hits=0; coalesced=0; forwarded=3")
                #expect(try await proxy.get("/admin/policy").status == 200)
            }
        }
    }

    @Test func thePolicyIsShownWithSecretsMasked() async throws {
        let fake = FakeRerankBackend()
        try await fake.run { url in
            var policy = policy(url, store: .redis)
            policy.cache.redis.url = "redis://:redis-secret-pw@127.0.0.1:6399/0"
            policy.models[0].backends[0].apiKey = "backend-secret-key"
            policy.models[0].backends.append(BackendConfig(name: "fake-1", url: "http://user:url-secret@127.0.0.1:9/x"))
            try await withProxy(policy) { proxy in
                let reply = try await proxy.get("/admin/policy", headers: Self.admin)
                #expect(reply.status == 200)
                let text = String(decoding: reply.body, as: UTF8.self)
                for secret in [Self.adminKey, Self.appKey, "redis-secret-pw", "backend-secret-key", "url-secret"] {
                    #expect(!text.contains(secret), "\(secret) shown")
                }
                let cache = reply.object["cache"] as? [String: Any]
                #expect((cache?["redis"] as? [String: Any])?["url"] as? String == "redis://127.0.0.1:6399/0")
                let keys = (reply.object["auth"] as? [String: Any])?["keys"] as? [[String: Any]]
                #expect(keys?.first?["name"] as? String == "app")
                #expect(keys?.first?["key"] as? String == "***")
                let backends = ((reply.object["models"] as? [[String: Any]])?.first?["backends"] as? [[String: Any]]) ?? []
                #expect(backends.first?["api_key"] as? String == "***")
                #expect(backends.last?["url"] as? String == "http://127.0.0.1:9/x")
            }
        }
    }

    /// `test-model`'s cache generation in `/v1/stats`.
    private func generation(_ proxy: ProxyClient) async throws -> Int? {
        (try await proxy.stats()["models"] as? [[String: Any]])?.first?["cache_generation"] as? Int
    }

    /// Purges `test-model` and checks that the pairs are scored again (memory and SQLite both had them).
    private func expectRescoredAfterPurge(_ proxy: ProxyClient, fake: FakeRerankBackend, docs: [String]) async throws {
        let before = fake.pairs
        let key = ["Authorization": "Bearer \(Self.appKey)"]
        let hit = try await proxy.post("/v1/rerank?explain=true", object: ["query": "q", "documents": docs], headers: key)
        expectExact(hit, query: "q", documents: docs)
        #expect(hit.header("X-Rerank-Cache") == "hits=\(docs.count); coalesced=0; forwarded=0")
        #expect(fake.pairs == before)
        #expect(try await proxy.post("/admin/purge", object: ["model": "test-model"], headers: Self.admin).status == 200)
        let again = try await proxy.post("/v1/rerank?explain=true", object: ["query": "q", "documents": docs], headers: key)
        expectExact(again, query: "q", documents: docs)
        #expect(again.header("X-Rerank-Cache") == "hits=0; coalesced=0; forwarded=\(docs.count)")
        #expect(fake.pairs == before + docs.count)
    }

    @Test func aPurgedPairIsScoredAgainAndStaysPurgedAfterARestart() async throws {
        let fake = FakeRerankBackend()
        let path = temporaryDirectory() + "/scores.sqlite"
        let docs = documents(6)
        try await fake.run { url in
            try await withProxy(policy(url, sqlitePath: path)) { proxy in
                let first = try await proxy.post("/v1/rerank", object: ["query": "q", "documents": docs], headers: ["api-key": Self.appKey])
                expectExact(first, query: "q", documents: docs)
                #expect(fake.pairs == 6)
                try await expectRescoredAfterPurge(proxy, fake: fake, docs: docs)
                #expect(try await generation(proxy) == 1)
            }
            // A restart on the same file: generation 1's scores are hits, generation 0's stay unreachable.
            try await withProxy(policy(url, sqlitePath: path)) { proxy in
                let reply = try await proxy.post("/v1/rerank", object: ["query": "q", "documents": docs], headers: ["api-key": Self.appKey])
                expectExact(reply, query: "q", documents: docs)
                #expect(fake.pairs == 12)
                #expect(reply.header("X-Rerank-Cache") == "hits=6; coalesced=0; forwarded=0")
                try await expectRescoredAfterPurge(proxy, fake: fake, docs: docs)
            }
        }
    }

    @Test func withoutAStoreAPurgeEmptiesTheMemoryTier() async throws {
        let fake = FakeRerankBackend()
        let docs = documents(4)
        try await fake.run { url in
            try await withProxy(policy(url, store: .none)) { proxy in
                expectExact(try await proxy.post("/v1/rerank", object: ["query": "q", "documents": docs], headers: ["api-key": Self.appKey]), query: "q", documents: docs)
                try await expectRescoredAfterPurge(proxy, fake: fake, docs: docs)
            }
        }
    }

    @Test func aBatchAfterAPurgeScoresItsPairsAgain() async throws {
        let fake = FakeRerankBackend()
        let docs = documents(4)
        try await fake.run { url in
            try await withProxy(policy(url, store: .none)) { proxy in
                let batch: [String: Any] = ["model": "test-model", "requests": [["query": "q", "documents": docs]]]
                let key = ["api-key": Self.appKey]
                let first = try await proxy.post("/v1/rerank/batch", object: batch, headers: key)
                let cached = try await proxy.post("/v1/rerank/batch", object: batch, headers: key)
                #expect(first.status == 200 && cached.status == 200)
                #expect(fake.pairs == docs.count)
                let purge = try await proxy.post("/admin/purge", object: ["model": "test-model"], headers: Self.admin)
                #expect(purge.status == 200)
                let again = try await proxy.post("/v1/rerank/batch", object: batch, headers: key)
                #expect(again.status == 200)
                #expect(fake.pairs == 2 * docs.count)
            }
        }
    }

    @Test(.enabled(if: redisServerPath != nil, "redis-server is not installed"))
    func aPurgeAfterRedisLostItsGenerationStillMovesOn() async throws {
        let redis = try PrivateRedisServer()
        let fake = FakeRerankBackend()
        let docs = documents(3)
        try await fake.run { url in
            let policy = {
                var policy = redisPolicy(url: redis.url, backendURL: url, memoryEntries: 1000)
                // Purges must reach Redis here; a loaded CI machine can take longer than the 50 ms default.
                policy.cache.redis.timeout = DurationValue(.seconds(1), text: "1s")
                policy.auth = self.policy(url).auth
                return policy
            }()
            try await withProxy(policy) { proxy in
                expectExact(try await proxy.post("/v1/rerank", object: ["query": "q", "documents": docs], headers: ["api-key": Self.appKey]), query: "q", documents: docs)
                try await expectRescoredAfterPurge(proxy, fake: fake, docs: docs)
                // Redis restarts empty: its INCR answers 1 again, but the memory tier still holds generation 1's scores.
                redis.stop()
                try redis.start()
                try await until { (try? await proxy.post("/admin/purge", object: ["model": "test-model"], headers: Self.admin))?.status == 200 }
                #expect(try await generation(proxy) == 2)
                let again = try await proxy.post("/v1/rerank", object: ["query": "q", "documents": docs], headers: ["api-key": Self.appKey])
                #expect(again.header("X-Rerank-Cache") == "hits=0; coalesced=0; forwarded=3")
            }
        }
    }

    @Test(.enabled(if: sharedRedisURL != nil, "REDIS_URL is not set: start redis-server and export REDIS_URL (scripts/test.sh does)"))
    func aPurgeReachesEveryReplicaOnTheSameRedis() async throws {
        let fake = FakeRerankBackend()
        let docs = documents(5, prefix: "purge-\(UUID().uuidString.prefix(6))")
        try await fake.run { url in
            let shared = {
                var shared = redisPolicy(url: sharedRedisURL!, backendURL: url, memoryEntries: 1000)
                shared.cache.redis.timeout = DurationValue(.seconds(1), text: "1s")
                shared.auth = policy(url).auth
                return shared
            }()
            // B's timer loop runs on a manual clock: it re-reads generations only when the test moves that clock.
            let clockB = ManualClock()
            try await withProxy(shared) { a in
                try await withProxy(shared, timers: TimeSource(clockB)) { b in
                    let body = jsonText(["query": "q", "documents": docs])
                    expectExact(try await a.post("/v1/rerank", body, headers: ["api-key": Self.appKey]), query: "q", documents: docs)
                    try await until { (try? await b.post("/v1/rerank", body, headers: ["api-key": Self.appKey]))?.header("X-Rerank-Cache") == "hits=5; coalesced=0; forwarded=0" }
                    #expect(fake.pairs == 5)
                    // Purged on A: Redis holds the generation, B picks it up at its next refresh (every second) and re-scores.
                    try await expectRescoredAfterPurge(a, fake: fake, docs: docs)
                    #expect(try await generation(b) == 0)
                    clockB.advance(by: .seconds(1))
                    try await until { (try? await generation(b)) == 1 }
                    let afterPurge = try await b.post("/v1/rerank?explain=true", body, headers: ["api-key": Self.appKey])
                    expectExact(afterPurge, query: "q", documents: docs)
                    // A already scored generation 1 and wrote it to Redis: B's hits come from the store, never generation 0.
                    #expect(fake.pairs == 10)
                }
            }
            // A proxy started after the purge reads the generation at start.
            let restarted = try await withProxy(shared) { c in try await generation(c) }
            #expect(restarted == 1)
        }
    }
}
