import Foundation
import RerankProxyApp
import Testing

/// Every answer says where its scores came from: `X-Rerank-Cache` always, `meta.cache` per result on request.
@Suite(.serialized) struct ProvenanceTests {
    func sources(_ reply: ProxyClient.Reply, key: String = "results") -> [Int: String] {
        let items = (key.isEmpty ? reply.json : reply.object[key]) as? [[String: Any]] ?? []
        var out: [Int: String] = [:]
        for item in items {
            guard let index = item["index"] as? Int else { continue }
            out[index] = (item["meta"] as? [String: Any])?["cache"] as? String ?? "absent"
        }
        return out
    }

    @Test func headerAndExplainNameEachScoresSource() async throws {
        let fake = FakeRerankBackend()
        try await fake.run { url in
            let path = temporaryDirectory() + "/scores.sqlite"
            try await withProxy(testPolicy(backends: [BackendConfig(name: "fake-0", url: url)], sqlitePath: path)) { proxy in
                let first = try await proxy.post("/v1/rerank?explain=true", object: ["query": "q", "documents": ["a", "b", "a"]])
                #expect(first.header("X-Rerank-Cache") == "hits=0; coalesced=0; forwarded=2")
                #expect(sources(first) == [0: "backend", 1: "backend", 2: "backend"])

                let second = try await proxy.post("/v1/rerank?explain=true", object: ["query": "q", "documents": ["a", "c"]])
                #expect(second.header("X-Rerank-Cache") == "hits=1; coalesced=0; forwarded=1")
                #expect(sources(second) == [0: "memory", 1: "backend"])

                // Without the parameter the body is the plain dialect answer; the header is always there.
                let plain = try await proxy.post("/v1/rerank", object: ["query": "q", "documents": ["a"]])
                #expect(sources(plain) == [0: "absent"])
                #expect(plain.header("X-Rerank-Cache") == "hits=1; coalesced=0; forwarded=0")
            }
            // A new process with no memory tier: the same pairs come from the store.
            var policy = testPolicy(backends: [BackendConfig(name: "fake-0", url: url)], sqlitePath: path, memoryEntries: 0)
            policy.models[0].backends[0].timeout = DurationValue(.seconds(5), text: "5s")
            try await withProxy(policy) { proxy in
                let tei = try await proxy.post("/rerank?explain=true", object: ["query": "q", "texts": ["a", "c"]])
                #expect(sources(tei, key: "") == [0: "store", 1: "store"])
                #expect(tei.header("X-Rerank-Cache") == "hits=2; coalesced=0; forwarded=0")
            }
            #expect(fake.pairs == 3)
        }
    }
}
