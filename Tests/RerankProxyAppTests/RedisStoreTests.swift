import Foundation
import Metrics
import Prometheus
import TestSupport
import RerankCache
import RerankCore
import RerankProxyApp
import Testing

func redisPolicy(url: String, backendURL: String, memoryEntries: Int) -> PolicyConfig {
    var policy = testPolicy(backends: [BackendConfig(name: "fake-0", url: backendURL)], store: .redis, memoryEntries: memoryEntries)
    policy.cache.redis.url = url
    policy.cache.redis.prefix = "rrapp:\(UUID().uuidString.prefix(8)):"
    return policy
}

/// `cache.store: redis` end to end: exact scores, shared between proxies, and Redis never a point of failure.
// Skipped, visibly, when REDIS_URL is unset: `.ci/run` and `scripts/test.sh` start a redis-server and set it.
@Suite(.serialized, .enabled(if: sharedRedisURL != nil, "REDIS_URL is not set: start redis-server and export REDIS_URL (scripts/test.sh does)"))
struct RedisStoreTests {
    @Test func aSecondProxyOnTheSameRedisGetsTheFirstOnesScoresAsHits() async throws {
        let fake = FakeRerankBackend()
        try await fake.run { url in
            let first = redisPolicy(url: sharedRedisURL!, backendURL: url, memoryEntries: 1000)
            var second = first
            second.cache.memoryEntries = 0
            let docs = documents(30)
            try await withProxy(first) { proxy in
                expectExact(try await proxy.post("/v1/rerank", object: ["query": "q", "documents": docs]), query: "q", documents: docs)
                #expect(fake.pairs == 30)
            }  // shutdown flushes the write queue
            try await withProxy(second) { proxy in
                expectExact(try await proxy.post("/v1/rerank", object: ["query": "q", "documents": docs]), query: "q", documents: docs)
                #expect(fake.pairs == 30)
                let stats = try await proxy.stats()
                let redis = (stats["tiers"] as? [String: Any])?["redis"] as? [String: Any]
                #expect(redis?["hits"] as? Int == 30)
                #expect((stats["store_health"] as? [String: Any])?["status"] as? String == "ok")
            }
        }
    }

    @Test func theRedisTierCountsItsMissesAndRoundTripsInStatsAndMetrics() async throws {
        let fake = FakeRerankBackend()
        try await fake.run { url in
            let policy = redisPolicy(url: sharedRedisURL!, backendURL: url, memoryEntries: 0)
            let registry = PrometheusCollectorRegistry()
            let app = try withMetricsFactory(PrometheusMetricsFactory(registry: registry)) {
                try buildApplication(policy: policy, options: AppOptions(logger: quietLogger, registry: registry))
            }
            try await app.test(.live) { client in
                let proxy = ProxyClient(base: "http://127.0.0.1:\(client.port!)")
                let docs = documents(8, prefix: "round-trip-\(UUID().uuidString.prefix(6))")
                for _ in 0..<2 {
                    expectExact(try await proxy.post("/v1/rerank", object: ["query": "q", "documents": docs]), query: "q", documents: docs)
                }
                #expect(fake.pairs == 8)
                let redis = (try await proxy.stats()["tiers"] as? [String: Any])?["redis"] as? [String: Any]
                #expect(redis?["misses"] as? Int == 8)
                #expect(redis?["hits"] as? Int == 8)
                let lookup = redis?["lookup_ms"] as? [String: Double]
                #expect((lookup?["p50"] ?? 0) > 0)
                #expect((lookup?["p99"] ?? 0) >= (lookup?["p50"] ?? 1))
                let metrics = String(decoding: try await proxy.get("/metrics").body, as: UTF8.self)
                #expect(metrics.contains(#"rerank_cache_misses_total{tier="redis"} 8"#))
                #expect(metrics.contains(#"rerank_cache_lookup_duration_seconds_count{tier="redis"} 2"#))
            }
        }
    }

    @Test func fiftyConcurrentColdRequestsOverTwoProxiesScoreEachPairOnce() async throws {
        let fake = FakeRerankBackend()
        fake.delay(.milliseconds(150))
        try await fake.run { url in
            let policy = redisPolicy(url: sharedRedisURL!, backendURL: url, memoryEntries: 1000)
            let docs = documents(10, prefix: "shared-\(UUID().uuidString.prefix(6))")
            try await withProxy(policy) { a in
                try await withProxy(policy) { b in
                    let replies = try await withThrowingTaskGroup(of: ProxyClient.Reply.self) { group in
                        for n in 0..<50 {
                            let proxy = n % 2 == 0 ? a : b
                            group.addTask { try await proxy.post("/v1/rerank", object: ["query": "q", "documents": docs]) }
                        }
                        return try await group.reduce(into: []) { $0.append($1) }
                    }
                    for reply in replies { expectExact(reply, query: "q", documents: docs) }
                    // Each pair scored by a backend once in total, across both replicas.
                    #expect(fake.pairs == docs.count)
                }
            }
        }
    }

    @Test(.enabled(if: redisServerPath != nil, "redis-server is not installed"))
    func killingRedisUnderLoadLosesNoRequestAndHitsResumeAfterARestart() async throws {
        let server = try PrivateRedisServer()
        defer { server.stop() }
        let fake = FakeRerankBackend()
        try await fake.run { url in
            let policy = redisPolicy(url: server.url, backendURL: url, memoryEntries: 0)
            try await withProxy(policy) { proxy in
                let statuses = try await withThrowingTaskGroup(of: [Int].self) { group in
                    for worker in 0..<4 {
                        group.addTask {
                            var statuses: [Int] = []
                            for round in 0..<40 {
                                let docs = documents(5, prefix: "w\(worker)-\(round % 10)")
                                let reply = try await proxy.post("/v1/rerank", object: ["query": "q", "documents": docs])
                                if reply.status == 200 { expectExact(reply, query: "q", documents: docs) }
                                statuses.append(reply.status)
                            }
                            return statuses
                        }
                    }
                    group.addTask {
                        // Midway: once a quarter of the requests have been scored.
                        try await until { fake.calls >= 10 }
                        server.stop()
                        return []
                    }
                    return try await group.reduce(into: []) { $0 += $1 }
                }
                #expect(statuses.count == 160)
                #expect(statuses.allSatisfy { $0 == 200 })
                // A request after the kill is served too, and shows Redis down in /readyz.
                let fresh = documents(4, prefix: "while-down")
                expectExact(try await proxy.post("/v1/rerank", object: ["query": "q", "documents": fresh]), query: "q", documents: fresh)
                let down = try await proxy.get("/readyz").object["store_health"] as? [String: Any]
                #expect(down?["status"] as? String == "degraded")
                #expect((down?["reason"] as? String)?.hasPrefix("redis unreachable") == true)

                try server.start()
                // Back without a restart of the proxy: store_health ok once a flush reconnects.
                try await until(.seconds(10)) {
                    (try? await proxy.get("/readyz").object["store_health"] as? [String: Any])?["status"] as? String == "ok"
                }
                let docs = documents(6, prefix: "after-restart")
                _ = try await proxy.post("/v1/rerank", object: ["query": "q", "documents": docs])
                let forwarded = fake.pairs
                // Wait for the writer's flush to reach the restarted Redis (read it directly, not through the proxy).
                let reader = try RedisCacheStore(configuration: .init(url: server.url, prefix: policy.cache.redis.prefix), logger: quietLogger)
                let encoder = CacheKeyEncoder(model: "test-model", revision: "", settings: .init(), query: "q")
                let keys = docs.map { encoder.key(document: $0) }
                try await until { (try? await reader.lookup(keys))?.allSatisfy { $0 != nil } == true }
                expectExact(try await proxy.post("/v1/rerank", object: ["query": "q", "documents": docs]), query: "q", documents: docs)
                #expect(fake.pairs == forwarded)
                let redis = (try await proxy.stats()["tiers"] as? [String: Any])?["redis"] as? [String: Any]
                #expect((redis?["hits"] as? Int ?? 0) >= 6)
            }
        }
    }
}

