import Foundation
import Logging
import RerankCache
import RerankCore
import Testing

@testable import RerankBackends
@testable import RerankProxyApp

/// Backends fail loudly and are failed over; caches fail quietly.
@Suite(.serialized) struct FailureTests {
    @Test func backendErrorIs502NamingItAndNothingIsCached() async throws {
        let fake = FakeRerankBackend()
        fake.fail(with: 500)
        try await fake.run { url in
            try await withProxy(testPolicy(backends: [BackendConfig(name: "gpu-7", url: url)])) { proxy in
                let docs = documents(3)
                let failed = try await proxy.post("/v1/rerank", object: ["query": "q", "documents": docs])
                #expect(failed.status == 502)
                let error = failed.object["error"] as? [String: Any]
                #expect((error?["message"] as? String)?.contains("gpu-7") == true)
                #expect((failed.object["detail"] as? String)?.contains("injected failure") == true)
                #expect(pairs(try await proxy.stats())["failed"] == 3)
                fake.fail(with: nil)
                // Nothing was cached from the failure: the same pairs are forwarded again and answered exactly.
                expectExact(try await proxy.post("/v1/rerank", object: ["query": "q", "documents": docs]), query: "q", documents: docs)
                #expect(fake.pairs == 6)
            }
        }
    }

    @Test func backendTimeoutIs504() async throws {
        let fake = FakeRerankBackend()
        fake.delay(.seconds(2))
        try await fake.run { url in
            try await withProxy(testPolicy(backends: [BackendConfig(name: "slow-0", url: url, timeout: .milliseconds(200))])) { proxy in
                let reply = try await proxy.post("/rerank", object: ["query": "q", "texts": ["a"]])
                #expect(reply.status == 504)
                #expect((reply.object["error"] as? String)?.contains("slow-0") == true)
                #expect(reply.object["error_type"] as? String == "Backend")
            }
        }
    }

    @Test func failingBackendFailsOverToTheNext() async throws {
        let broken = FakeRerankBackend()
        broken.fail(with: 503)
        let healthy = FakeRerankBackend()
        try await broken.run { brokenURL in
            try await healthy.run { healthyURL in
                let policy = testPolicy(backends: [BackendConfig(name: "broken", url: brokenURL), BackendConfig(name: "healthy", url: healthyURL)])
                try await withProxy(policy) { proxy in
                    for round in 0..<3 {
                        let docs = documents(4, prefix: "round \(round)")
                        expectExact(try await proxy.post("/v1/rerank", object: ["query": "q", "documents": docs]), query: "q", documents: docs)
                    }
                    #expect(healthy.pairs == 12)
                    // Ejected after its first failure (eject_after: 1), the broken backend is not retried at once.
                    #expect(broken.calls == 1)
                    let backends = try await proxy.stats()["backends"] as? [[String: Any]] ?? []
                    #expect(backends.first { $0["name"] as? String == "broken" }?["errors"] as? Int == 1)
                    #expect(backends.first { $0["name"] as? String == "healthy" }?["pairs"] as? Int == 12)
                }
            }
        }
    }

    @Test func aFailingCacheStoreIsAMissNotAFailedRequest() async throws {
        struct BrokenStore: CacheStore {
            let name = "sqlite"
            var entryCount: Int { 0 }
            func lookup(_ keys: [CacheKey]) async throws(CacheError) -> [CachedScore?] { throw .query(reason: "disk I/O error") }
            func save(_ entries: [(key: CacheKey, score: CachedScore)]) {}
            func pendingScore(_ key: CacheKey) -> CachedScore? { nil }
        }
        let fake = FakeRerankBackend()
        try await fake.run { url in
            let stats = ProxyStats(storeName: "sqlite", backends: [("test-model", "fake-0")])
            let client = HTTPBackendClient(configuration: .init(name: "fake-0", api: .cohere, url: url, model: "test-model"), httpClient: .shared)
            let pool = BackendPool(model: "test-model", backends: [client], configuration: .init(), observer: stats)
            let pipeline = RerankPipeline(
                models: [ModelRuntime(name: "test-model", revision: "", api: .cohere, pool: pool)],
                cache: TieredCache(memory: nil, store: BrokenStore(), logger: quietLogger),
                stats: stats
            )
            let request = RerankRequest(dialect: .documents, model: nil, query: "q", texts: ["a", "b"])
            let result = try await pipeline.rerank(request, logger: quietLogger)
            #expect(result.scores == ["a", "b"].map { FakeRerankBackend.score(query: "q", document: $0) })
            #expect(stats.snapshot().storeErrors == 1)
            #expect(fake.pairs == 2)
        }
    }
}
