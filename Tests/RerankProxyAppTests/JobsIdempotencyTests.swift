import AsyncHTTPClient
import Foundation
import NIOCore
import RerankProxyApp
import Testing

/// `Idempotency-Key` on `POST /v1/rerank/jobs`: a retried submission names the job it created, never a second one.
@Suite(.serialized) struct JobsIdempotencyTests {
    static let teamA = ["Authorization": "Bearer sk-team-a-0123456789"]
    static let teamB = ["Authorization": "Bearer sk-team-b-0123456789"]

    func policy(_ url: String) -> PolicyConfig {
        var policy = testPolicy(backends: [BackendConfig(name: "fake-0", url: url)])
        policy.auth.keys = [.init(name: "team-a", key: "sk-team-a-0123456789"), .init(name: "team-b", key: "sk-team-b-0123456789")]
        return policy
    }

    @Test func aRetryWithTheSameKeyAndBodyIsAnsweredWithTheSameJobAndScoresNothingTwice() async throws {
        let fake = FakeRerankBackend()
        try await fake.run { url in
            try await withProxy(policy(url)) { proxy in
                // A retry resends the same bytes.
                let body = String(decoding: try JSONSerialization.data(withJSONObject: ["requests": JobsTests.requests(2, documents: 3)]), as: UTF8.self)
                let headers = Self.teamA.merging(["Idempotency-Key": "nightly-2026-11-26"]) { a, _ in a }
                let first = try await proxy.post("/v1/rerank/jobs", body, headers: headers)
                #expect(first.status == 202)
                #expect(first.header("Idempotent-Replayed") == nil)
                let id = try #require(first.object["id"] as? String)
                let retried = try await proxy.post("/v1/rerank/jobs", body, headers: headers)
                #expect(retried.status == 202)
                #expect(retried.object["id"] as? String == id)
                #expect(retried.header("Idempotent-Replayed") == "true")
                try await until { (try? await proxy.get("/v1/rerank/jobs/\(id)", headers: Self.teamA).object["status"] as? String) == "succeeded" }
                // After it finished, a retry still names it (until jobs.ttl sweeps it).
                let late = try await proxy.post("/v1/rerank/jobs", body, headers: headers)
                #expect(late.object["id"] as? String == id)
                #expect(late.object["status"] as? String == "succeeded")
                #expect((try await proxy.get("/v1/rerank/jobs", headers: Self.teamA).object["data"] as? [Any])?.count == 1)
                #expect(fake.pairs == 6)
            }
        }
    }

    @Test func concurrentRetriesCreateOneJob() async throws {
        let fake = FakeRerankBackend()
        try await fake.run { url in
            try await withProxy(policy(url)) { proxy in
                let body = String(decoding: try JSONSerialization.data(withJSONObject: ["requests": JobsTests.requests(1, documents: 2)]), as: UTF8.self)
                let headers = Self.teamA.merging(["Idempotency-Key": "burst"]) { a, _ in a }
                let ids = try await withThrowingTaskGroup(of: String?.self) { group in
                    for _ in 0..<12 { group.addTask { try await proxy.post("/v1/rerank/jobs", body, headers: headers).object["id"] as? String } }
                    return try await group.reduce(into: Set<String?>()) { $0.insert($1) }
                }
                #expect(ids.count == 1)
                #expect(ids.first! != nil)
                #expect((try await proxy.get("/v1/rerank/jobs", headers: Self.teamA).object["data"] as? [Any])?.count == 1)
            }
        }
    }

    @Test func theSameKeyWithAnotherBodyIs422AndAnotherAPIKeysSameKeyIsItsOwnJob() async throws {
        let fake = FakeRerankBackend()
        try await fake.run { url in
            try await withProxy(policy(url)) { proxy in
                let key = ["Idempotency-Key": "shared-name"]
                let a = Self.teamA.merging(key) { x, _ in x }
                let first = try await proxy.post("/v1/rerank/jobs", object: ["requests": JobsTests.requests(1, documents: 2)], headers: a)
                let id = try #require(first.object["id"] as? String)
                let changed = try await proxy.post("/v1/rerank/jobs", object: ["requests": JobsTests.requests(1, documents: 3)], headers: a)
                #expect(changed.status == 422)
                let error = changed.object["error"] as? [String: Any]
                #expect((error?["message"] as? String)?.contains(id) == true)
                #expect(error?["param"] as? String == "Idempotency-Key")
                let b = Self.teamB.merging(key) { x, _ in x }
                let other = try await proxy.post("/v1/rerank/jobs", object: ["requests": JobsTests.requests(1, documents: 3)], headers: b)
                #expect(other.status == 202)
                #expect(other.object["id"] as? String != id)
                #expect((try await proxy.get("/v1/rerank/jobs", headers: Self.teamA).object["data"] as? [Any])?.count == 1)
            }
        }
    }

    /// NDJSON names its model in the query (`?model=`), not in the body: a retry that asks for another model is
    /// another submission (422), not a replay of the first model's job.
    @Test func theSameNDJSONBodyForAnotherModelIs422NotTheFirstModelsJob() async throws {
        let fake = FakeRerankBackend()
        try await fake.run { url in
            var policy = policy(url)
            policy.models.append(ModelConfig(name: "other-model", backends: [BackendConfig(name: "fake-1", url: url)]))
            try await withProxy(policy) { proxy in
                let body = JobsTests.requests(2, documents: 2).map { jsonText($0) }.joined(separator: "\n") + "\n"
                let headers = Self.teamA.merging(["Idempotency-Key": "lines-1", "Content-Type": "application/x-ndjson"]) { _, b in b }
                func submit(_ model: String) async throws -> ProxyClient.Reply {
                    var request = HTTPClientRequest(url: proxy.base + "/v1/rerank/jobs?model=" + model)
                    request.method = .POST
                    for (name, value) in headers { request.headers.add(name: name, value: value) }
                    request.body = .bytes(ByteBuffer(string: body))
                    return try await proxy.send(request, timeout: .seconds(10))
                }
                let first = try await submit("test-model")
                #expect(first.status == 202)
                let id = try #require(first.object["id"] as? String)
                #expect(try await submit("test-model").object["id"] as? String == id)
                let other = try await submit("other-model")
                #expect(other.status == 422)
                #expect(other.header("Idempotent-Replayed") == nil)
                #expect(((other.object["error"] as? [String: Any])?["message"] as? String)?.contains(id) == true)
            }
        }
    }

    @Test(arguments: ["", String(repeating: "k", count: 256), "has space", "naïve"])
    func aMalformedKeyIs400AndCreatesNothing(key: String) async throws {
        let fake = FakeRerankBackend()
        try await fake.run { url in
            try await withProxy(policy(url)) { proxy in
                let headers = Self.teamA.merging(["Idempotency-Key": key]) { a, _ in a }
                let reply = try await proxy.post("/v1/rerank/jobs", object: ["requests": JobsTests.requests(1, documents: 2)], headers: headers)
                #expect(reply.status == 400)
                #expect((reply.object["error"] as? [String: Any])?["param"] as? String == "Idempotency-Key")
                #expect((try await proxy.get("/v1/rerank/jobs", headers: Self.teamA).object["data"] as? [Any])?.isEmpty == true)
            }
        }
    }
}
