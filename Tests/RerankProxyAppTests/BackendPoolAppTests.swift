import Foundation
import Testing

@testable import RerankBackends
@testable import RerankProxyApp

/// The pool over real HTTP: vLLM `/score` backends, fan-out over several backends, load shedding.
@Suite(.serialized) struct BackendPoolAppTests {
    @Test func aVLLMBackendIsAskedThroughScoreAndAnsweredExactly() async throws {
        let fake = FakeRerankBackend()
        try await fake.run { url in
            try await withProxy(testPolicy(backends: [BackendConfig(name: "vllm-0", api: .vllm, url: url)])) { proxy in
                let docs = documents(5)
                expectExact(try await proxy.post("/v1/rerank", object: ["query": "q", "documents": docs]), query: "q", documents: docs)
                #expect(fake.state.withLock { $0.scoreCalls } == 1)

                let raw = try await proxy.post("/v1/rerank", object: ["query": "q", "documents": docs, "raw_scores": true])
                #expect(raw.status == 200)
                #expect(fake.state.withLock { $0.sawUseActivationFalse })

                let truncate = try await proxy.post("/rerank", object: ["query": "q", "texts": ["a"], "truncate": true])
                #expect(truncate.status == 422)
                #expect((truncate.object["error"] as? String)?.contains("api: vllm") == true)
            }
        }
    }

    @Test func aLargeMissIsSpreadOverBothBackends() async throws {
        let a = FakeRerankBackend()
        let b = FakeRerankBackend()
        try await a.run { urlA in
            try await b.run { urlB in
                let policy = testPolicy(backends: [
                    BackendConfig(name: "gpu-a", api: .vllm, url: urlA, maxBatch: 2), BackendConfig(name: "gpu-b", api: .vllm, url: urlB, maxBatch: 2),
                ])
                try await withProxy(policy) { proxy in
                    let docs = documents(8)
                    expectExact(try await proxy.post("/v1/rerank", object: ["query": "q", "documents": docs]), query: "q", documents: docs)
                    #expect(a.calls > 0)
                    #expect(b.calls > 0)
                    #expect(a.calls + b.calls == 4)
                    let backends = try await proxy.stats()["backends"] as? [[String: Any]] ?? []
                    #expect(backends.map { $0["in_flight"] as? Int } == [0, 0])
                }
            }
        }
    }

    @Test func pastMaxQueueARequestIs429WithRetryAfterInItsDialect() async throws {
        let fake = FakeRerankBackend()
        fake.delay(.seconds(1))
        try await fake.run { url in
            var backend = BackendConfig(name: "slow-0", url: url, maxBatch: 2)
            backend.maxConcurrency = 1
            var policy = testPolicy(backends: [backend])
            policy.models[0].maxQueue = 0
            try await withProxy(policy) { proxy in
                // Two pairs fill the one slot (capacity 1 call x 2 pairs); nothing may queue beyond it.
                async let first = proxy.post("/v1/rerank", object: ["query": "q", "documents": ["a", "b"]])
                try await until { fake.calls == 1 }
                let shed = try await proxy.post("/v1/rerank", object: ["query": "q", "documents": ["c"]])
                #expect(shed.status == 429)
                #expect(shed.headers["retry-after"] == "1")
                #expect((shed.object["error"] as? [String: Any])?["type"] as? String == "TooManyRequestsError")
                #expect((shed.object["detail"] as? String)?.contains("max_queue") == true)
                let tei = try await proxy.post("/rerank", object: ["query": "q", "texts": ["d"]])
                #expect(tei.status == 429)
                #expect(tei.object["error_type"] as? String == "Overloaded")
                #expect(try await first.status == 200)
                #expect(fake.calls == 1)

                let stats = try await proxy.stats()
                let models = stats["models"] as? [[String: Any]] ?? []
                #expect(models.first?["shed"] as? Int == 2)
                #expect(models.first?["queued_pairs"] as? Int == 0)
                // Shed pairs are not cached: once the queue drains they are scored.
                expectExact(try await proxy.post("/v1/rerank", object: ["query": "q", "documents": ["c"]]), query: "q", documents: ["c"])
            }
        }
    }

    @Test func aPassedRequestTimeoutIs504AndItsUnsentChunksAreNotSent() async throws {
        let fake = FakeRerankBackend()
        fake.delay(.seconds(1))
        try await fake.run { url in
            var backend = BackendConfig(name: "slow-0", url: url, maxBatch: 1)
            backend.maxConcurrency = 1
            try await withProxy(testPolicy(backends: [backend])) { proxy in
                let started = ContinuousClock.now
                let late = try await proxy.post(
                    "/v1/rerank", object: ["query": "q", "documents": ["a", "b", "c"]], headers: ["X-Request-Timeout": "0.3"]
                )
                #expect(late.status == 504)
                #expect(ContinuousClock.now - started < .milliseconds(900))
                #expect((late.object["detail"] as? String)?.contains("X-Request-Timeout") == true)

                // The chunk already sent completes and is cached; the two that waited for the slot were never sent.
                // (Chunks race for the one slot, so which document went first is read from the fake.)
                let sent = try #require(fake.documents.first)
                expectExact(try await proxy.post("/v1/rerank", object: ["query": "q", "documents": [sent]]), query: "q", documents: [sent])
                #expect(fake.calls == 1)
                #expect(fake.documents == [sent])

                let bad = try await proxy.post("/v1/rerank", object: ["query": "q", "documents": ["a"]], headers: ["X-Request-Timeout": "soon"])
                #expect(bad.status == 400)
            }
        }
    }

    @Test func aBackendWhoseCanaryDisagreesIsRefusedAndNeverUsed() async throws {
        let good = FakeRerankBackend()
        let other = FakeRerankBackend()
        other.state.withLock { $0.scoreOffset = 0.1 }   // another normalisation behind the same name
        try await good.run { urlGood in
            try await other.run { urlOther in
                var policy = testPolicy(backends: [
                    BackendConfig(name: "gpu-a", api: .vllm, url: urlGood, maxBatch: 1), BackendConfig(name: "gpu-b", api: .vllm, url: urlOther, maxBatch: 1),
                ])
                policy.models[0].canary = CanaryConfig(query: "capital of france", document: "Paris is the capital of France.", tolerance: 1e-3)
                try await withProxy(policy) { proxy in
                    #expect(good.calls == 1)
                    #expect(other.calls == 1)
                    let docs = documents(6)
                    expectExact(try await proxy.post("/v1/rerank", object: ["query": "q", "documents": docs]), query: "q", documents: docs)
                    #expect(good.calls == 7)
                    #expect(other.calls == 1)
                    let backends = try await proxy.stats()["backends"] as? [[String: Any]] ?? []
                    #expect(backends.map { $0["refused"] as? Bool } == [false, true])
                }
            }
        }
    }
}
