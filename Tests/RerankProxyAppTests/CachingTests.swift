import Foundation
import RerankProxyApp
import Testing

/// Only misses go out, and what comes back is exactly what the backend said.
@Suite(.serialized) struct CachingTests {
    @Test func secondIdenticalRequestForwardsNothing() async throws {
        let fake = FakeRerankBackend()
        try await fake.run { url in
            try await withProxy(testPolicy(backends: [BackendConfig(name: "fake-0", url: url)])) { proxy in
                let docs = documents(20)
                let body: [String: Any] = ["model": "test-model", "query": "what is a panda?", "documents": docs]
                expectExact(try await proxy.post("/v1/rerank", object: body), query: "what is a panda?", documents: docs)
                #expect(fake.pairs == 20)
                expectExact(try await proxy.post("/v1/rerank", object: body), query: "what is a panda?", documents: docs)
                #expect(fake.pairs == 20)
                let stats = try await proxy.stats()
                #expect(pairs(stats) == ["total": 40, "hits": 20, "coalesced": 0, "forwarded": 20, "failed": 0])
                #expect(stats["hit_ratio"] as? Double == 0.5)
            }
        }
    }

    @Test func onlyTheNewPairsAreForwardedInAnyOrder() async throws {
        let fake = FakeRerankBackend()
        try await fake.run { url in
            try await withProxy(testPolicy(backends: [BackendConfig(name: "fake-0", url: url)])) { proxy in
                let old = documents(20)
                _ = try await proxy.post("/v1/rerank", object: ["query": "q", "documents": old])
                let new = documents(10, prefix: "fresh")
                let mixed = (Array(old[5..<15]) + new).shuffled()
                expectExact(try await proxy.post("/v1/rerank", object: ["query": "q", "documents": mixed]), query: "q", documents: mixed)
                #expect(fake.pairs == 30)
                #expect(Set(fake.documents.suffix(10)) == Set(new))
            }
        }
    }

    @Test func repeatedDocumentsAreScoredOnceAndCountedOnce() async throws {
        let fake = FakeRerankBackend()
        try await fake.run { url in
            try await withProxy(testPolicy(backends: [BackendConfig(name: "fake-0", url: url)])) { proxy in
                let docs = ["a", "b", "a", "a", "b", "c"]
                expectExact(try await proxy.post("/v1/rerank", object: ["query": "q", "documents": docs]), query: "q", documents: docs)
                #expect(fake.pairs == 3)
                #expect(pairs(try await proxy.stats())["total"] == 3)
            }
        }
    }

    @Test func clientTopNIsNeverForwardedAndEveryScoreIsCached() async throws {
        let fake = FakeRerankBackend()
        try await fake.run { url in
            try await withProxy(testPolicy(backends: [BackendConfig(name: "fake-0", url: url)])) { proxy in
                let docs = documents(5)
                let top = try await proxy.post("/v1/rerank", object: ["query": "q", "documents": docs, "top_n": 2])
                expectExact(top, query: "q", documents: docs, topN: 2)
                #expect(!fake.state.withLock { $0.sawTopN })
                expectExact(try await proxy.post("/v1/rerank", object: ["query": "q", "documents": docs]), query: "q", documents: docs)
                #expect(fake.pairs == 5)
            }
        }
    }

    @Test func scoreSettingsAreForwardedAndKeyedSeparately() async throws {
        let fake = FakeRerankBackend()
        try await fake.run { url in
            try await withProxy(testPolicy(backends: [BackendConfig(name: "fake-0", api: .tei, url: url)])) { proxy in
                let docs = ["x", "y"]
                _ = try await proxy.post("/rerank", object: ["query": "q", "texts": docs])
                let raw = try await proxy.post("/rerank", object: ["query": "q", "texts": docs, "raw_scores": true])
                #expect(fake.pairs == 4)
                #expect(fake.state.withLock { $0.sawRawScores })
                let scores = teiResults(raw)
                #expect(scores.count == 2)
                for (index, score) in scores {
                    #expect(score.bitPattern == FakeRerankBackend.score(query: "q", document: docs[index], raw: true).bitPattern)
                }
                _ = try await proxy.post("/rerank", object: ["query": "q", "texts": docs, "raw_scores": true])
                #expect(fake.pairs == 4)
            }
        }
    }

    @Test func largeMissesAreSplitIntoBackendBatches() async throws {
        let fake = FakeRerankBackend()
        try await fake.run { url in
            try await withProxy(testPolicy(backends: [BackendConfig(name: "fake-0", url: url, maxBatch: 8)])) { proxy in
                let docs = documents(30)
                expectExact(try await proxy.post("/v2/rerank", object: ["model": "test-model", "query": "q", "documents": docs]), query: "q", documents: docs)
                #expect(fake.calls == 4)
                #expect(fake.pairs == 30)
            }
        }
    }

    @Test func aTEIBackendsPublishedLimitCapsMaxBatch() async throws {
        let fake = FakeRerankBackend()
        fake.state.withLock { $0.infoBatchLimit = 4 }
        try await fake.run { url in
            // max_batch 64 is above what this TEI server accepts; the proxy reads /info before serving.
            try await withProxy(testPolicy(backends: [BackendConfig(name: "tei-0", api: .tei, url: url, maxBatch: 64)])) { proxy in
                let docs = documents(10)
                expectExact(try await proxy.post("/v1/rerank", object: ["query": "q", "documents": docs]), query: "q", documents: docs)
                #expect(fake.calls == 3)
                #expect(fake.pairs == 10)
            }
        }
    }

    @Test func restartKeepsEveryScoreAndServesThemWithTheBackendDown() async throws {
        let path = temporaryDirectory() + "/scores.sqlite"
        let docs = documents(12)
        let fake = FakeRerankBackend()
        let deadURL = try await fake.run { url in
            try await withProxy(testPolicy(backends: [BackendConfig(name: "fake-0", url: url)], sqlitePath: path)) { proxy in
                expectExact(try await proxy.post("/v1/rerank", object: ["query": "q", "documents": docs]), query: "q", documents: docs)
            }
            return url
        }
        // The fake is gone now: its port refuses connections. The memory tier is new, so hits come from SQLite.
        try await withProxy(testPolicy(backends: [BackendConfig(name: "fake-0", url: deadURL)], sqlitePath: path)) { proxy in
            expectExact(try await proxy.post("/v1/rerank", object: ["query": "q", "documents": docs]), query: "q", documents: docs)
            let stats = try await proxy.stats()
            #expect((stats["tiers"] as? [String: [String: Any]])?["sqlite"]?["hits"] as? Int == 12)
            #expect((stats["tiers"] as? [String: [String: Any]])?["sqlite"]?["entries"] as? Int == 12)
            let miss = try await proxy.post("/v1/rerank", object: ["query": "q", "documents": docs + ["a new one"]])
            #expect(miss.status == 502)
            #expect((miss.object["message"] as? String)?.contains("fake-0") == true)
        }
    }

    @Test func memoryOnlyAndNoCacheStillAnswerExactly() async throws {
        let fake = FakeRerankBackend()
        try await fake.run { url in
            try await withProxy(testPolicy(backends: [BackendConfig(name: "fake-0", url: url)], store: .none)) { proxy in
                let docs = documents(4)
                expectExact(try await proxy.post("/v1/rerank", object: ["query": "q", "documents": docs]), query: "q", documents: docs)
                expectExact(try await proxy.post("/v1/rerank", object: ["query": "q", "documents": docs]), query: "q", documents: docs)
                #expect(fake.pairs == 4)
            }
            try await withProxy(testPolicy(backends: [BackendConfig(name: "fake-0", url: url)], store: .none, memoryEntries: 0)) { proxy in
                let docs = documents(4, prefix: "uncached")
                expectExact(try await proxy.post("/v1/rerank", object: ["query": "q", "documents": docs]), query: "q", documents: docs)
                expectExact(try await proxy.post("/v1/rerank", object: ["query": "q", "documents": docs]), query: "q", documents: docs)
                #expect(fake.pairs == 12)
            }
        }
    }
}
