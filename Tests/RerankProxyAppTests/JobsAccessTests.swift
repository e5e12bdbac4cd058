import Foundation
import RerankProxyApp
import Testing

/// Who sees a job, and jobs without a durable store.
@Suite(.serialized) struct JobsAccessTests {
    @Test func aJobIsVisibleOnlyToTheKeyThatSubmittedItAndToAdmins() async throws {
        let fake = FakeRerankBackend()
        try await fake.run { url in
            var policy = testPolicy(backends: [BackendConfig(name: "fake-0", url: url)])
            policy.auth.keys = [.init(name: "team-a", key: "sk-team-a-0123456789"), .init(name: "team-b", key: "sk-team-b-0123456789")]
            policy.auth.adminKeys = ["sk-admin-0123456789"]
            try await withProxy(policy) { proxy in
                let a = ["Authorization": "Bearer sk-team-a-0123456789"]
                let b = ["Authorization": "Bearer sk-team-b-0123456789"]
                let admin = ["Authorization": "Bearer sk-admin-0123456789"]
                #expect(try await proxy.post("/v1/rerank/jobs", object: ["requests": [["query": "q", "documents": ["x"]]]]).status == 401)
                let submitted = try await proxy.post("/v1/rerank/jobs", object: ["requests": [["query": "job q", "documents": ["x", "y"]]]], headers: a)
                #expect(submitted.status == 202)
                let id = try #require(submitted.object["id"] as? String)
                try await until { (try? await proxy.get("/v1/rerank/jobs/\(id)", headers: a).object["status"] as? String) == "succeeded" }
                #expect(try await proxy.get("/v1/rerank/jobs/\(id)", headers: b).status == 404)
                #expect(try await proxy.get("/v1/rerank/jobs/\(id)", headers: admin).status == 200)
                #expect((try await proxy.get("/v1/rerank/jobs", headers: b).object["data"] as? [Any])?.isEmpty == true)
                #expect((try await proxy.get("/v1/rerank/jobs", headers: a).object["data"] as? [Any])?.count == 1)
            }
        }
    }

    @Test func aJobsRequestsCountInItsKeysStats() async throws {
        let fake = FakeRerankBackend()
        try await fake.run { url in
            var policy = testPolicy(backends: [BackendConfig(name: "fake-0", url: url)])
            policy.auth.keys = [.init(name: "team-a", key: "sk-team-a-0123456789")]
            policy.auth.adminKeys = ["sk-admin-0123456789"]
            try await withProxy(policy) { proxy in
                let a = ["Authorization": "Bearer sk-team-a-0123456789"]
                let requests = JobsTests.requests(2, documents: 3)
                let submitted = try await proxy.post("/v1/rerank/jobs", object: ["requests": requests], headers: a)
                let id = try #require(submitted.object["id"] as? String)
                try await until { (try? await proxy.get("/v1/rerank/jobs/\(id)", headers: a).object["status"] as? String) == "succeeded" }
                let stats = try await proxy.get("/v1/stats", headers: ["Authorization": "Bearer sk-admin-0123456789"])
                let teamA = try #require((stats.object["keys"] as? [String: Any])?["team-a"] as? [String: Any])
                #expect(teamA["requests"] as? Int == 2)
                #expect(teamA["pairs"] as? Int == 6)
            }
        }
    }

    @Test func pollingAJobDoesNotSpendItsKeysRate() async throws {
        let fake = FakeRerankBackend()
        try await fake.run { url in
            var policy = testPolicy(backends: [BackendConfig(name: "fake-0", url: url)])
            policy.auth.keys = [.init(name: "slow", key: "sk-slow-0123456789", rate: try RateValue(parsing: "1/m"), burst: 1)]
            try await withProxy(policy) { proxy in
                let key = ["Authorization": "Bearer sk-slow-0123456789"]
                let submitted = try await proxy.post("/v1/rerank/jobs", object: ["requests": JobsTests.requests(1, documents: 2)], headers: key)
                let id = try #require(submitted.object["id"] as? String)
                for _ in 0..<5 {
                    #expect(try await proxy.get("/v1/rerank/jobs/\(id)", headers: key).status == 200)
                    #expect(try await proxy.get("/v1/rerank/jobs", headers: key).status == 200)
                }
                // Scoring still spends it: the one token went on the submission.
                let again = try await proxy.post("/v1/rerank/jobs", object: ["requests": JobsTests.requests(1, documents: 2)], headers: key)
                #expect(again.status == 429)
            }
        }
    }

    @Test func withoutADurableStoreJobsRunInMemoryAndSaySo() async throws {
        let fake = FakeRerankBackend()
        try await fake.run { url in
            try await withProxy(testPolicy(backends: [BackendConfig(name: "fake-0", url: url)], store: .none)) { proxy in
                let requests = JobsTests.requests(2, documents: 3)
                let id = try await JobsTests.submit(proxy, ["requests": requests])
                let done = try await JobsTests.wait(proxy, id, for: ["succeeded", "failed"])
                #expect(done["status"] as? String == "succeeded")
                #expect(done["durable"] as? Bool == false)
                let results = try #require(done["results"] as? [Any])
                for (i, result) in results.enumerated() { try JobsTests.expectResult(result, requests[i]) }
            }
        }
    }
}
