import Foundation
import Logging
import RerankCache
import RerankCore
import Testing

@testable import RerankBackends
@testable import RerankProxyApp

/// Nothing hangs, and one client's bad input or bad luck never fails another (issue #7, items 1–3 and 7).
@Suite(.serialized) struct HardeningTests {
    @Test func aBackendThatStallsAfterItsHeadersAnswers504AndWedgesNothing() async throws {
        let fake = FakeRerankBackend()
        fake.stallBody(true)
        try await fake.run { url in
            var backend = BackendConfig(name: "fake-0", url: url)
            backend.timeout = DurationValue(.milliseconds(400), text: "400ms")
            try await withProxy(testPolicy(backends: [backend])) { proxy in
                async let leader = proxy.post("/v1/rerank", object: ["query": "q", "documents": ["a", "b"]], timeout: .seconds(10))
                try await until { fake.calls >= 1 }
                async let joiner = proxy.post("/v1/rerank", object: ["query": "q", "documents": ["a"]], timeout: .seconds(10))
                let (led, joined) = try await (leader, joiner)
                #expect(led.status == 504)
                #expect(joined.status == 504)
                #expect((led.object["message"] as? String)?.contains("fake-0") == true)

                // The backend recovers: the same pairs are scored at once, nothing is left claimed.
                fake.stallBody(false)
                expectExact(try await proxy.post("/v1/rerank", object: ["query": "q", "documents": ["a", "b"]], timeout: .seconds(10)), query: "q", documents: ["a", "b"])
            }
        }
    }

    @Test(arguments: [false, true])
    func aRefusedDocumentFailsOnlyTheRequestThatSentIt(tei: Bool) async throws {
        let fake = FakeRerankBackend()
        fake.refuse(prefix: "BAD")
        fake.delay(.milliseconds(300))
        try await fake.run { url in
            let policy = testPolicy(backends: [BackendConfig(name: "fake-0", api: tei ? .tei : .cohere, url: url)])
            try await withProxy(policy) { proxy in
                let path = tei ? "/rerank" : "/v1/rerank"
                let field = tei ? "texts" : "documents"
                async let leader = proxy.post(path, object: ["query": "q", field: ["a", "BAD: far too long"]])
                try await until { fake.calls >= 1 }
                async let joiner = proxy.post(path, object: ["query": "q", field: ["a"]])
                let (led, joined) = try await (leader, joiner)

                // The joiner only wanted "a", which the backend scores fine once the bad document is split off.
                #expect(joined.status == 200)
                let score = tei ? teiResults(joined).first?.score : results(joined).first?.score
                #expect(score?.bitPattern == FakeRerankBackend.score(query: "q", document: "a").bitPattern)

                // The sender of the bad document gets a 4xx naming it and carrying the backend's words.
                #expect(led.status == (tei ? 422 : 400))
                let message = (tei ? led.object["error"] : led.object["message"]) as? String ?? ""
                #expect(message.contains("documents[1]"), "\(message)")
                #expect(message.contains("less than 512 tokens"), "\(message)")
                if tei { #expect(led.object["error_type"] as? String == "Validation") }
                // And "a" is cached: asking again costs no backend call.
                let calls = fake.calls
                #expect(try await proxy.post(path, object: ["query": "q", field: ["a"]]).status == 200)
                #expect(fake.calls == calls)
            }
        }
    }

    @Test func aCancelledLeaderStillFeedsItsJoinersAndTheCache() async throws {
        let fake = FakeRerankBackend()
        fake.delay(.milliseconds(300))
        try await fake.run { url in
            let stats = ProxyStats(storeName: "none", backends: [("test-model", "fake-0")])
            let client = HTTPBackendClient(configuration: .init(name: "fake-0", api: .cohere, url: url, model: "test-model"), httpClient: .shared)
            let pool = BackendPool(model: "test-model", backends: [client], configuration: .init(), observer: stats)
            let cache = TieredCache(memory: MemoryTier(capacity: 100, ttlSeconds: 0), store: nil, logger: quietLogger)
            let pipeline = RerankPipeline(
                models: [ModelRuntime(name: "test-model", revision: "", api: .cohere, pool: pool)], cache: cache, stats: stats
            )
            let request = RerankRequest(dialect: .documents, model: nil, query: "q", texts: ["a", "b"])
            let leader = Task { try await pipeline.rerank(request, logger: quietLogger) }
            try await until { fake.calls == 1 }
            let joiner = Task { try await pipeline.rerank(request, logger: quietLogger) }
            try await until { pipeline.coalescer.waiterCount > 0 }
            leader.cancel()

            let joined = try await joiner.value
            #expect(joined.scores.map(\.bitPattern) == ["a", "b"].map { FakeRerankBackend.score(query: "q", document: $0).bitPattern })
            // One backend call in all: the cancelled leader's flight ran to the end and fed the joiner...
            #expect(fake.calls == 1)
            #expect(stats.snapshot().pairs.coalesced == 2)
            // ...and the cache.
            let key = CacheKeyEncoder(model: "test-model", revision: "", settings: .init(), query: "q").key(document: "a")
            #expect(cache.recheck(key) == FakeRerankBackend.score(query: "q", document: "a"))
            _ = try? await leader.value
        }
    }

    @Test func aSettingTheModelsBackendsCannotHonourIs400NotKeyed() async throws {
        let fake = FakeRerankBackend()
        try await fake.run { url in
            try await withProxy(testPolicy(backends: [BackendConfig(name: "fake-0", api: .cohere, url: url)])) { proxy in
                let refused = try await proxy.post("/v1/rerank", object: ["query": "q", "documents": ["a"], "truncate": true])
                #expect(refused.status == 400)
                #expect(refused.object["message"] as? String ?? "" == "truncate: true cannot be honoured by this model's backends (api: cohere); send truncate_prompt_tokens instead")
                // `truncate: false` is what vLLM does anyway: same key as no setting, so the second is a hit.
                #expect(try await proxy.post("/v1/rerank", object: ["query": "q", "documents": ["a"], "truncate": false]).status == 200)
                #expect(try await proxy.post("/v1/rerank", object: ["query": "q", "documents": ["a"]]).status == 200)
                #expect(fake.calls == 1)
                // Cohere v2's max_tokens_per_doc is accepted, ignored and not keyed.
                #expect(try await proxy.post("/v2/rerank", object: ["query": "q", "documents": ["a"], "max_tokens_per_doc": 4096]).status == 200)
                #expect(fake.calls == 1)
            }
        }
    }
}
