import Foundation
import RerankProxyApp
import Testing

/// Hostile bodies are cheap, and object documents come back exactly as sent (issue #7, items 4 and 5).
@Suite(.serialized) struct HostileBodyTests {
    @Test func hugeBodiesOfEmptyObjectsAndDeepNestingAreRefusedFastWhileHitsFlow() async throws {
        let fake = FakeRerankBackend()
        try await fake.run { url in
            let policy = testPolicy(backends: [BackendConfig(name: "fake-0", url: url)], maxBodyBytes: 9 << 20, maxDocuments: 1000)
            try await withProxy(policy) { proxy in
                let warm = try await proxy.post("/v1/rerank", object: ["query": "q", "documents": ["a", "b"]])
                expectExact(warm, query: "q", documents: ["a", "b"])

                var empty = Array(#"{"query":"q","documents":["#.utf8)
                empty.reserveCapacity(8 << 20)
                while empty.count < (8 << 20) - 4 { empty += Array("{},".utf8) }
                empty += Array("{}]}".utf8)
                let deep = Array(#"{"query":"q","documents":["#.utf8) + Array(repeating: UInt8(ascii: "["), count: 100_000)
                let deepElsewhere = Array(#"{"query":"q","documents":["a"],"x":"#.utf8) + Array(repeating: UInt8(ascii: "["), count: 100_000)

                let clock = ContinuousClock()
                for (name, body, fragment) in [("empty objects", empty, "max_documents"), ("deep", deep, "deep"), ("deep elsewhere", deepElsewhere, "deep")] {
                    async let hit = proxy.post("/v1/rerank", object: ["query": "q", "documents": ["a", "b"]])
                    let start = clock.now
                    let reply = try await proxy.post("/v1/rerank", bytes: body)
                    let elapsed = clock.now - start
                    #expect(reply.status == 400, "\(name)")
                    #expect((reply.object["message"] as? String ?? "").contains(fragment), "\(name): \(reply.object["message"] ?? "")")
                    // Generous for a debug build on a shared 2-core machine; the decoder this replaced took many seconds.
                    #expect(elapsed < .seconds(3), "\(name) took \(elapsed)")
                    expectExact(try await hit, query: "q", documents: ["a", "b"])
                }
                #expect(fake.calls == 1)
            }
        }
    }

    @Test func objectDocumentsAreEchoedByteForByte() async throws {
        let fake = FakeRerankBackend()
        try await fake.run { url in
            try await withProxy(testPolicy(backends: [BackendConfig(name: "fake-0", url: url)])) { proxy in
                let document = #"{"z":1,"text":"a","id":12345678901234567891,"nested":[1.50,{"k":null,"e":"\u00e9"}]}"#
                let reply = try await proxy.post("/v1/rerank", #"{"query":"q","documents":[\#(document)],"return_documents":true}"#)
                #expect(reply.status == 200)
                let text = String(decoding: reply.body, as: UTF8.self)
                #expect(text.contains(#""document":\#(document)"#), "\(text)")
            }
        }
    }
}
