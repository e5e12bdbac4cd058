import Foundation
import RerankProxyApp
import Testing

/// `POST /v1/rerank/batch` over real HTTP: answers in request order, each as `/v1/rerank` would, with every pair
/// of every request going through the cache and coalescer together.
@Suite(.serialized) struct BatchTests {
    /// The `i`th result of a batch answer, re-encoded as a reply so the single-request helpers can check it.
    static func item(_ reply: ProxyClient.Reply, _ i: Int) throws -> ProxyClient.Reply {
        let results = try #require(reply.object["results"] as? [Any])
        return ProxyClient.Reply(status: reply.status, body: try JSONSerialization.data(withJSONObject: results[i]))
    }

    @Test func answersEveryRequestInOrderAndScoresARepeatedPairOnce() async throws {
        let fake = FakeRerankBackend()
        try await fake.run { url in
            var backend = BackendConfig(name: "fake-0", url: url)
            backend.maxBatch = 8
            try await withProxy(testPolicy(backends: [backend])) { proxy in
                let a = documents(10)
                let b = documents(6, prefix: "other")
                // Request 2 repeats request 0's query and 5 of its documents; request 1 shares documents but not the query.
                let body: [String: Any] = [
                    "model": "test-model",
                    "requests": [
                        ["query": "q0", "documents": a],
                        ["query": "q1", "documents": Array(a[0..<3]) + b, "top_n": 2],
                        ["query": "q0", "documents": Array(a[5..<10]), "return_documents": false],
                    ],
                ]
                let reply = try await proxy.post("/v1/rerank/batch", object: body)
                #expect(reply.status == 200, "\(String(decoding: reply.body, as: UTF8.self))")
                #expect(reply.object["model"] as? String == "test-model")
                #expect((reply.object["id"] as? String)?.isEmpty == false)
                expectExact(try Self.item(reply, 0), query: "q0", documents: a)
                expectExact(try Self.item(reply, 1), query: "q1", documents: Array(a[0..<3]) + b, topN: 2)
                expectExact(try Self.item(reply, 2), query: "q0", documents: Array(a[5..<10]))
                // 10 (q0) + 9 (q1) unique pairs; q0's second request added none. Calls: q0 → 2 (8 + 2), q1 → 2 (8 + 1).
                #expect(fake.pairs == 19)
                #expect(fake.calls == 4)
                #expect(reply.header("x-rerank-cache") == "hits=0; coalesced=5; forwarded=19")

                // Everything is cached now: the same batch forwards nothing.
                let again = try await proxy.post("/v1/rerank/batch", object: body)
                expectExact(try Self.item(again, 1), query: "q1", documents: Array(a[0..<3]) + b, topN: 2)
                #expect(fake.pairs == 19)
            }
        }
    }

    @Test func aBatchUsesPairsAlreadyCachedBySingleRequests() async throws {
        let fake = FakeRerankBackend()
        try await fake.run { url in
            try await withProxy(testPolicy(backends: [BackendConfig(name: "fake-0", url: url)])) { proxy in
                let docs = documents(6)
                _ = try await proxy.post("/v1/rerank", object: ["query": "q", "documents": Array(docs[0..<4])])
                let reply = try await proxy.post("/v1/rerank/batch", object: ["requests": [["query": "q", "documents": docs]]])
                expectExact(try Self.item(reply, 0), query: "q", documents: docs)
                #expect(fake.pairs == 6)
            }
        }
    }

    @Test func aPassedRequestTimeoutIs504AndTheBatchsUnsentChunksAreNotSent() async throws {
        let fake = FakeRerankBackend()
        fake.delay(.seconds(1))
        try await fake.run { url in
            var backend = BackendConfig(name: "slow-0", url: url, maxBatch: 1)
            backend.maxConcurrency = 1
            try await withProxy(testPolicy(backends: [backend])) { proxy in
                let body: [String: Any] = ["requests": [["query": "q", "documents": ["a", "b"]], ["query": "r", "documents": ["c"]]]]
                let started = ContinuousClock.now
                let late = try await proxy.post("/v1/rerank/batch", object: body, headers: ["X-Request-Timeout": "0.3"])
                #expect(late.status == 504, "\(String(decoding: late.body, as: UTF8.self))")
                #expect(ContinuousClock.now - started < .milliseconds(900))
                // The chunk that held the one slot completes and is cached; those that waited for it were never sent.
                let sent = try #require(fake.documents.first)
                let query = sent == "c" ? "r" : "q"
                expectExact(try await proxy.post("/v1/rerank", object: ["query": query, "documents": [sent]]), query: query, documents: [sent])
                #expect(fake.calls == 1)
                #expect(fake.documents == [sent])

                let bad = try await proxy.post("/v1/rerank/batch", object: body, headers: ["X-Request-Timeout": "soon"])
                #expect(bad.status == 400)
            }
        }
    }

    @Test func badInputIsRefusedNamingTheRequest() async throws {
        let fake = FakeRerankBackend()
        try await fake.run { url in
            var policy = testPolicy(backends: [BackendConfig(name: "fake-0", url: url)], maxDocuments: 5)
            policy.jobs.maxBatchPairs = 8
            try await withProxy(policy) { proxy in
                let missing = try await proxy.post("/v1/rerank/batch", object: ["requests": [["query": "q", "documents": ["a"]], ["documents": ["b"]]]])
                #expect(missing.status == 400)
                #expect((missing.object["message"] as? String)?.hasPrefix("requests[1]: ") == true)
                let tooMany = try await proxy.post("/v1/rerank/batch", object: ["requests": [["query": "q", "documents": documents(6)]]])
                #expect(tooMany.status == 400)
                let overBatch = try await proxy.post(
                    "/v1/rerank/batch", object: ["requests": [["query": "q", "documents": documents(5)], ["query": "r", "documents": documents(4)]]]
                )
                #expect(overBatch.status == 413)
                let otherModel = try await proxy.post("/v1/rerank/batch", object: ["model": "test-model", "requests": [["model": "x", "query": "q", "documents": ["a"]]]])
                #expect(otherModel.status == 400)
                let unknown = try await proxy.post("/v1/rerank/batch", object: ["model": "nope", "requests": [["query": "q", "documents": ["a"]]]])
                #expect(unknown.status == 404)
                let notJSON = try await proxy.post("/v1/rerank/batch", "{\"requests\": [")
                #expect(notJSON.status == 400)
                #expect(fake.pairs == 0)
            }
        }
    }
}
