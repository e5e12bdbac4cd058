import Foundation
@testable import RerankProxyApp
import Testing

/// API keys, per-key limits and tenant isolation over real HTTP.
@Suite(.serialized) struct AuthTests {
    static let searchKey = "sk-search-0123456789"
    static let batchKey = "sk-batch-0123456789"
    static let tenantKey = "sk-tenant-0123456789"
    static let adminKey = "sk-admin-0123456789"

    func policy(_ url: String, protectStats: Bool = false) -> PolicyConfig {
        var policy = testPolicy(backends: [BackendConfig(name: "fake-0", url: url)])
        policy.models.append(ModelConfig(name: "other-model", backends: [BackendConfig(name: "fake-1", url: url)]))
        policy.auth.keys = [
            .init(name: "search-app", key: Self.searchKey, models: ["test-model"]),
            .init(name: "batch-jobs", key: Self.batchKey, rate: try! RateValue(parsing: "2/m"), burst: 2),
            .init(name: "tenant", key: Self.tenantKey, isolateCache: true),
        ]
        policy.auth.adminKeys = [Self.adminKey]
        policy.auth.protectStats = protectStats
        return policy
    }

    @Test func keysAreRequiredCheckedAndLimited() async throws {
        let fake = FakeRerankBackend()
        try await fake.run { url in
            try await withProxy(policy(url)) { proxy in
                let body: [String: Any] = ["query": "q", "documents": ["a", "b"]]
                let none = try await proxy.post("/v1/rerank", object: body)
                #expect(none.status == 401)
                #expect((none.object["message"] as? String)?.contains("API key") == true)
                #expect(none.header("WWW-Authenticate") == "Bearer")
                let wrong = try await proxy.post("/v1/rerank", object: body, headers: ["Authorization": "Bearer sk-nope-0123456789"])
                #expect(wrong.status == 401)
                // A 401 never echoes what was presented.
                #expect(!String(decoding: wrong.body, as: UTF8.self).contains("sk-nope"))
                let tei = try await proxy.post("/rerank", object: ["query": "q", "texts": ["a"]])
                #expect(tei.status == 401)
                #expect(fake.calls == 0)

                // Every header clients send works.
                for header in [("Authorization", "Bearer \(Self.searchKey)"), ("api-key", Self.searchKey), ("X-API-Key", Self.searchKey)] {
                    let ok = try await proxy.post("/v1/rerank", object: body, headers: [header.0: header.1])
                    expectExact(ok, query: "q", documents: ["a", "b"])
                }
                // A model outside the key's list is 403; the admin key may use any.
                let other: [String: Any] = ["model": "other-model", "query": "q", "documents": ["a"]]
                #expect(try await proxy.post("/v1/rerank", object: other, headers: ["Authorization": "Bearer \(Self.searchKey)"]).status == 403)
                #expect(try await proxy.post("/v1/rerank", object: other, headers: ["Authorization": "Bearer \(Self.adminKey)"]).status == 200)

                // 2 requests a minute with a burst of 2: the third is refused with Retry-After.
                let batch = ["Authorization": "Bearer \(Self.batchKey)"]
                #expect(try await proxy.post("/v1/rerank", object: body, headers: batch).status == 200)
                #expect(try await proxy.post("/v1/rerank", object: body, headers: batch).status == 200)
                let limited = try await proxy.post("/v1/rerank", object: body, headers: batch)
                #expect(limited.status == 429)
                #expect(Int(limited.header("Retry-After") ?? "") ?? 0 >= 1)
                // Other keys are not affected.
                #expect(try await proxy.post("/v1/rerank", object: body, headers: ["api-key": Self.searchKey]).status == 200)

                let keys = try await proxy.stats()["keys"] as? [String: [String: Int]] ?? [:]
                #expect(keys["search-app"]?["requests"] == 4)
                #expect(keys["search-app"]?["rejected"] == 1)
                #expect(keys["batch-jobs"]?["requests"] == 2)
                #expect(keys["batch-jobs"]?["rejected"] == 1)
                #expect(keys["batch-jobs"]?["hits"] == 4)
                #expect(keys["unknown"]?["rejected"] == 3)
            }
        }
    }

    @Test func anIsolatedTenantNeverSharesScoresOrFlights() async throws {
        let fake = FakeRerankBackend()
        try await fake.run { url in
            try await withProxy(policy(url)) { proxy in
                let body: [String: Any] = ["query": "q", "documents": ["a", "b"]]
                expectExact(try await proxy.post("/v1/rerank", object: body, headers: ["api-key": Self.searchKey]), query: "q", documents: ["a", "b"])
                #expect(fake.pairs == 2)
                // The tenant's first request is a miss although the shared cache has both pairs...
                let tenant = try await proxy.post("/v1/rerank", object: body, headers: ["api-key": Self.tenantKey])
                expectExact(tenant, query: "q", documents: ["a", "b"])
                #expect(tenant.header("X-Rerank-Cache") == "hits=0; coalesced=0; forwarded=2")
                #expect(fake.pairs == 4)
                // ...and its second a hit from its own namespace.
                #expect(try await proxy.post("/v1/rerank", object: body, headers: ["api-key": Self.tenantKey]).header("X-Rerank-Cache") == "hits=2; coalesced=0; forwarded=0")
            }
        }
    }

    @Test func protectedStatsNeedAnAdminKey() async throws {
        let fake = FakeRerankBackend()
        try await fake.run { url in
            try await withProxy(policy(url, protectStats: true)) { proxy in
                let anonymous = try await proxy.get("/v1/stats")
                let user = try await proxy.get("/v1/stats", headers: ["Authorization": "Bearer \(Self.searchKey)"])
                let admin = try await proxy.get("/v1/stats", headers: ["Authorization": "Bearer \(Self.adminKey)"])
                let health = try await proxy.get("/healthz")
                #expect(anonymous.status == 401)
                #expect(user.status == 401)
                #expect(admin.status == 200)
                #expect(health.status == 200)
            }
        }
    }

    @Test func authPolicyIsValidated() throws {
        #expect(throws: ConfigError.self) {
            try PolicyConfig.parse("""
                auth: { keys: [{ name: a, key: short }] }
                models: [{ name: m, backends: [{ name: b, url: "http://127.0.0.1:1" }] }]
                """)
        }
        #expect(throws: ConfigError.self) {
            try PolicyConfig.parse("""
                auth: { keys: [{ name: a, key: long-enough-key, rate: "fast" }] }
                models: [{ name: m, backends: [{ name: b, url: "http://127.0.0.1:1" }] }]
                """)
        }
        #expect(throws: ConfigError.self) {
            try PolicyConfig.parse("""
                auth: { keys: [{ name: a, key: long-enough-key, models: [nope] }] }
                models: [{ name: m, backends: [{ name: b, url: "http://127.0.0.1:1" }] }]
                """)
        }
        let ok = try? PolicyConfig.parse("""
            auth: { keys: [{ name: a, key: long-enough-key, rate: 20/s, burst: 40, isolate_cache: true }], admin_keys: [admin-key-0123], protect_stats: true }
            models: [{ name: m, backends: [{ name: b, url: "http://127.0.0.1:1" }] }]
            """)
        #expect(ok?.auth.keys.first?.rate?.perSecond == 20)
        #expect(ok?.auth.keys.first?.bucketSize == 40)
    }
}
