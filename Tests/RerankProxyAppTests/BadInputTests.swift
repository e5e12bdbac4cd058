import Foundation
import RerankProxyApp
import Testing

/// Bad input gets a clear 4xx in the client's dialect, changes nothing, and the proxy keeps serving.
@Suite(.serialized) struct BadInputTests {
    @Test func everyBadRequestIsAClearJSONErrorAndTheProxyKeepsServing() async throws {
        let fake = FakeRerankBackend()
        try await fake.run { url in
            let policy = testPolicy(backends: [BackendConfig(name: "fake-0", url: url)], maxBodyBytes: 4000, maxDocuments: 5)
            try await withProxy(policy) { proxy in
                let cases: [(String, String, Int, String)] = [
                    ("/v1/rerank", "{not json", 400, "not valid JSON"),
                    ("/v1/rerank", "[1,2]", 400, "JSON object"),
                    ("/v1/rerank", #"{"query":7,"documents":["a"]}"#, 400, "query"),
                    ("/v1/rerank", #"{"query":"q","documents":"a"}"#, 400, "documents"),
                    ("/v1/rerank", #"{"query":"q","documents":[1]}"#, 400, "documents[0]"),
                    ("/v1/rerank", #"{"documents":["a"]}"#, 400, "query is required"),
                    ("/v2/rerank", #"{"query":"q"}"#, 400, "documents is required"),
                    ("/v1/rerank", #"{"query":"q","documents":["a"],"top_n":-2}"#, 400, "top_n"),
                    ("/v1/rerank", #"{"model":"nope","query":"q","documents":["a"]}"#, 404, "nope"),
                    ("/v1/rerank", #"{"query":"q","documents":["1","2","3","4","5","6"]}"#, 400, "max_documents"),
                    ("/v1/rerank", #"{"query":"q","documents":[""# + String(repeating: "x", count: 5000) + #""]}"#, 413, "max_body_bytes"),
                ]
                for (path, body, status, fragment) in cases {
                    let reply = try await proxy.post(path, body)
                    #expect(reply.status == status, "\(body.prefix(60))")
                    let message = reply.object["message"] as? String ?? ""
                    #expect(message.contains(fragment), "\(message)")
                    #expect(reply.object["detail"] as? String == message)
                    #expect((reply.object["error"] as? [String: Any])?["message"] as? String == message)
                }
                #expect(fake.calls == 0)
                #expect(try await proxy.get("/healthz").status == 200)
                let empty = try await proxy.post("/v1/rerank", #"{"query":"q","documents":[]}"#)
                #expect(empty.status == 200)
                #expect((empty.object["results"] as? [Any])?.isEmpty == true)
                expectExact(try await proxy.post("/v1/rerank", object: ["query": "q", "documents": ["still", "serving"]]), query: "q", documents: ["still", "serving"])
            }
        }
    }

    @Test func teiDialectAnswersAndErrsLikeTEI() async throws {
        let fake = FakeRerankBackend()
        try await fake.run { url in
            let policy = testPolicy(backends: [BackendConfig(name: "fake-0", api: .tei, url: url)], maxDocuments: 3)
            try await withProxy(policy) { proxy in
                let texts = ["alpha", "beta", "gamma"]
                let reply = try await proxy.post("/rerank", object: ["query": "q", "texts": texts, "return_text": true])
                #expect(reply.status == 200)
                let array = try #require(reply.json as? [[String: Any]])
                let expected = texts.indices.sorted { FakeRerankBackend.score(query: "q", document: texts[$0]) > FakeRerankBackend.score(query: "q", document: texts[$1]) }
                #expect(array.map { $0["index"] as? Int } == expected)
                #expect(array.map { $0["text"] as? String } == expected.map { texts[$0] })

                let empty = try await proxy.post("/rerank", #"{"query":"q","texts":[]}"#)
                #expect(empty.status == 400)
                #expect(empty.object["error_type"] as? String == "Empty")
                let tooMany = try await proxy.post("/rerank", #"{"query":"q","texts":["a","b","c","d"]}"#)
                #expect(tooMany.status == 422)
                #expect(tooMany.object["error_type"] as? String == "Validation")
                let wrongType = try await proxy.post("/rerank", #"{"query":"q","texts":"abc"}"#)
                #expect(wrongType.status == 422)
                #expect(wrongType.object["error_type"] as? String == "Validation")
            }
        }
    }
}
