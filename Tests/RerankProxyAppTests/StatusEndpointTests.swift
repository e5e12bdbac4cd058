import Foundation
import Prometheus
import RerankProxyApp
import Testing

@Suite(.serialized) struct StatusEndpointTests {
    @Test func statusEndpointsDescribeTheProxy() async throws {
        let fake = FakeRerankBackend()
        try await fake.run { url in
            try await withProxy(testPolicy(backends: [BackendConfig(name: "fake-0", url: url)])) { proxy in
                #expect(try await proxy.get("/healthz").status == 200)
                let ready = try await proxy.get("/readyz")
                #expect(ready.status == 200)
                #expect(ready.object["store"] as? String == "sqlite")
                let models = try await proxy.get("/v1/models").object["data"] as? [[String: Any]]
                #expect(models?.first?["id"] as? String == "test-model")
                #expect(try await proxy.get("/models").status == 200)
                let info = try await proxy.get("/info").object
                #expect((info["model_type"] as? [String: Any])?["reranker"] != nil)
                #expect(info["max_client_batch_size"] as? Int == 100)

                _ = try await proxy.post("/v1/rerank", object: ["query": "q", "documents": ["a", "b"]])
                _ = try await proxy.post("/v1/rerank", object: ["query": "q", "documents": ["a", "c"]])
                let stats = try await proxy.stats()
                #expect(stats["requests"] as? Int == 2)
                #expect(pairs(stats) == ["total": 4, "hits": 1, "coalesced": 0, "forwarded": 3, "failed": 0])
                #expect(stats["hit_ratio"] as? Double == 0.25)
                let tiers = stats["tiers"] as? [String: [String: Any]]
                #expect(tiers?["memory"]?["hits"] as? Int == 1)
                #expect(tiers?["memory"]?["entries"] as? Int == 3)
                #expect(tiers?["sqlite"]?["hits"] as? Int == 0)
                // a, b, then c missed in memory and in SQLite: two store round trips.
                #expect(tiers?["memory"]?["misses"] as? Int == 3)
                #expect(tiers?["sqlite"]?["misses"] as? Int == 3)
                let lookup = tiers?["sqlite"]?["lookup_ms"] as? [String: Double]
                #expect((lookup?["p50"] ?? 0) > 0)
                #expect((lookup?["p99"] ?? 0) >= (lookup?["p50"] ?? 1))
                let backend = (stats["backends"] as? [[String: Any]])?.first
                #expect(backend?["name"] as? String == "fake-0")
                #expect(backend?["model"] as? String == "test-model")
                #expect(backend?["requests"] as? Int == 2)
                #expect(backend?["pairs"] as? Int == 3)
                let latency = backend?["latency_ms"] as? [String: Double]
                #expect((latency?["p50"] ?? 0) > 0)
                #expect((latency?["p99"] ?? 0) >= (latency?["p50"] ?? 0))
                #expect((stats["uptime_seconds"] as? Double ?? -1) >= 0)
            }
        }
    }

    @Test func metricsAreServedFromTheGivenRegistry() async throws {
        let registry = PrometheusCollectorRegistry()
        registry.makeCounter(name: "rerank_probe_total").increment()
        let policy = testPolicy(backends: [BackendConfig(name: "fake-0", url: "http://127.0.0.1:9")])
        let app = try buildApplication(policy: policy, options: .init(logger: quietLogger, registry: registry))
        try await app.test(.live) { client in
            let proxy = ProxyClient(base: "http://127.0.0.1:\(client.port!)")
            let metrics = try await proxy.get("/metrics")
            #expect(metrics.status == 200)
            #expect(String(decoding: metrics.body, as: UTF8.self).contains("rerank_probe_total 1"))
        }
    }
}
