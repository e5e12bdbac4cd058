import AsyncHTTPClient
import Foundation
import TestSupport
import NIOCore
import RerankProxyApp
import Testing

/// The job API over real HTTP: submit, poll, page, NDJSON, cancel, refusals, and a proxy restarted mid-job.
@Suite(.serialized) struct JobsTests {
    /// `count` requests of `documents` documents each, tagged `tag` in their queries (the fake counts calls per tag).
    static func requests(_ count: Int, documents perRequest: Int, tag: String = "job") -> [[String: Any]] {
        (0..<count).map { i in ["query": "\(tag) query \(i % 7)", "documents": documents(perRequest, prefix: "doc \(i % 5)")] }
    }

    /// One fake backend (`maxBatch` 4) behind a proxy whose jobs may hold half of its `maxConcurrency` slots.
    static func withSharedBackend(
        delay: Duration, maxConcurrency: Int, chunkPairs: Int, _ body: @escaping @Sendable (FakeRerankBackend, ProxyClient) async throws -> Void
    ) async throws {
        let fake = FakeRerankBackend()
        fake.delay(delay)
        try await fake.run { url in
            var backend = BackendConfig(name: "fake-0", url: url, maxBatch: 4)
            backend.maxConcurrency = maxConcurrency
            var policy = testPolicy(backends: [backend])
            policy.jobs.maxShare = 0.5
            policy.jobs.chunkPairs = chunkPairs
            try await withProxy(policy) { proxy in try await body(fake, proxy) }
        }
    }

    static func status(_ proxy: ProxyClient, _ id: String) async throws -> [String: Any] {
        try await proxy.get("/v1/rerank/jobs/\(id)").object
    }

    /// Polls the job until its status is one of `states`; returns its last answer.
    @discardableResult
    static func wait(_ proxy: ProxyClient, _ id: String, for states: Set<String>, limit: Duration = .seconds(20)) async throws -> [String: Any] {
        try await until(limit) { (try? await status(proxy, id)["status"] as? String).map(states.contains) ?? false }
        return try await status(proxy, id)
    }

    static func submit(_ proxy: ProxyClient, _ body: [String: Any]) async throws -> String {
        let reply = try await proxy.post("/v1/rerank/jobs", object: body)
        #expect(reply.status == 202, "\(String(decoding: reply.body, as: UTF8.self))")
        let id = try #require(reply.object["id"] as? String)
        #expect(reply.object["status"] as? String == "queued")
        #expect(reply.object["status_url"] as? String == "/v1/rerank/jobs/\(id)")
        #expect(reply.header("location") == "/v1/rerank/jobs/\(id)")
        return id
    }

    /// Checks result `i` of a job against the fake's exact scores for request `request`.
    static func expectResult(_ result: Any, _ request: [String: Any]) throws {
        let reply = ProxyClient.Reply(status: 200, body: try JSONSerialization.data(withJSONObject: result))
        expectExact(reply, query: request["query"] as! String, documents: request["documents"] as! [String], topN: request["top_n"] as? Int)
    }

    @Test func aJobRunsToTheEndAndItsResultsArePagedAndStreamed() async throws {
        let fake = FakeRerankBackend()
        try await fake.run { url in
            var policy = testPolicy(backends: [BackendConfig(name: "fake-0", url: url, maxBatch: 8)])
            policy.jobs.chunkPairs = 16
            try await withProxy(policy) { proxy in
                var requests = Self.requests(12, documents: 6)
                requests[3]["top_n"] = 2
                let id = try await Self.submit(proxy, ["model": "test-model", "requests": requests])
                let done = try await Self.wait(proxy, id, for: ["succeeded", "failed"])
                #expect(done["status"] as? String == "succeeded")
                #expect(done["model"] as? String == "test-model")
                let progress = try #require(done["progress"] as? [String: Any])
                #expect(progress["total_pairs"] as? Int == 72)
                #expect(progress["done_pairs"] as? Int == 72)
                #expect(progress["requests_done"] as? Int == 12)
                // 7 queries × 5 document sets: requests 7 and 10 … repeat (query, set) pairs already seen.
                let unique = Set((0..<12).map { "\($0 % 7)-\($0 % 5)" }).count * 6
                #expect(fake.pairs == unique)
                #expect((progress["from_cache"] as? Int ?? 0) + (progress["scored"] as? Int ?? 0) == unique)
                let all = try #require(done["results"] as? [Any])
                #expect(all.count == 12)
                for (i, result) in all.enumerated() { try Self.expectResult(result, requests[i]) }
                #expect(done["next_offset"] is NSNull)

                let page = try await proxy.get("/v1/rerank/jobs/\(id)?offset=5&limit=4").object
                let paged = try #require(page["results"] as? [Any])
                #expect(paged.count == 4)
                #expect(page["next_offset"] as? Int == 9)
                for (n, result) in paged.enumerated() { try Self.expectResult(result, requests[5 + n]) }

                let lines = try await proxy.get("/v1/rerank/jobs/\(id)?offset=10", headers: ["accept": "application/x-ndjson"])
                #expect(lines.status == 200)
                #expect(lines.header("content-type") == "application/x-ndjson")
                let rows = String(decoding: lines.body, as: UTF8.self).split(separator: "\n")
                #expect(rows.count == 2)
                for (n, row) in rows.enumerated() { try Self.expectResult(try JSONSerialization.jsonObject(with: Data(row.utf8)), requests[10 + n]) }

                let list = try await proxy.get("/v1/rerank/jobs").object
                let listed = try #require(list["data"] as? [[String: Any]])
                #expect(listed.map { $0["id"] as? String } == [id])
                #expect(listed.first?["results"] == nil)
                #expect(list["durable"] as? Bool == true)
            }
        }
    }

    @Test func anNDJSONJobHasOneResultPerLine() async throws {
        let fake = FakeRerankBackend()
        try await fake.run { url in
            try await withProxy(testPolicy(backends: [BackendConfig(name: "fake-0", url: url)])) { proxy in
                let requests = Self.requests(3, documents: 4)
                let body = requests.map { jsonText($0) }.joined(separator: "\n") + "\n"
                var request = HTTPClientRequest(url: proxy.base + "/v1/rerank/jobs?model=test-model")
                request.method = .POST
                request.headers.add(name: "content-type", value: "application/x-ndjson")
                request.body = .bytes(ByteBuffer(string: body))
                let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
                #expect(response.status.code == 202)
                let submitted = try JSONSerialization.jsonObject(with: Data(buffer: try await response.body.collect(upTo: 1 << 20))) as? [String: Any]
                let id = try #require(submitted?["id"] as? String)
                let done = try await Self.wait(proxy, id, for: ["succeeded", "failed"])
                let results = try #require(done["results"] as? [Any])
                #expect(results.count == 3)
                for (i, result) in results.enumerated() { try Self.expectResult(result, requests[i]) }
            }
        }
    }

    @Test func refusalsAreClearAndChangeNothing() async throws {
        let fake = FakeRerankBackend()
        try await fake.run { url in
            var policy = testPolicy(backends: [BackendConfig(name: "fake-0", url: url)])
            policy.jobs.maxPairs = 10
            try await withProxy(policy) { proxy in
                let over = try await proxy.post("/v1/rerank/jobs", object: ["requests": Self.requests(3, documents: 4)])
                #expect(over.status == 413)
                #expect((over.object["message"] as? String)?.contains("jobs.max_pairs") == true)
                let bad = try await proxy.post("/v1/rerank/jobs", object: ["requests": [["query": "q"]]])
                #expect(bad.status == 400)
                let unknown = try await proxy.get("/v1/rerank/jobs/job-nope")
                #expect(unknown.status == 404)
                #expect((unknown.object["error"] as? [String: Any])?["type"] as? String == "NotFoundError")
                let list = try await proxy.get("/v1/rerank/jobs").object
                #expect((list["data"] as? [Any])?.isEmpty == true)
                #expect(fake.calls == 0)
            }
        }
    }

    @Test func aCancelledJobStopsScoring() async throws {
        let fake = FakeRerankBackend()
        fake.delay(.milliseconds(50))
        try await fake.run { url in
            var policy = testPolicy(backends: [BackendConfig(name: "fake-0", url: url, maxBatch: 4)])
            policy.jobs.chunkPairs = 4
            try await withProxy(policy) { proxy in
                let id = try await Self.submit(proxy, ["requests": Self.requests(40, documents: 4)])
                try await until { (try? await Self.status(proxy, id)["progress"] as? [String: Any])?["requests_done"] as? Int ?? 0 >= 2 }
                let reply = try await proxy.delete("/v1/rerank/jobs/\(id)")
                #expect(reply.status == 200)
                #expect(reply.object["status"] as? String == "cancelled")
                let ended = try await Self.wait(proxy, id, for: ["cancelled"])
                let doneAtCancel = (ended["progress"] as? [String: Any])?["requests_done"] as? Int ?? 0
                #expect(doneAtCancel < 40)
                // The runner has let go of the job: another job runs (jobs.concurrency is 1), and the cancelled one forwards nothing more.
                let next = try await Self.submit(proxy, ["requests": [["query": "other", "documents": ["x"]]]])
                try await Self.wait(proxy, next, for: ["succeeded"])
                let calls = fake.calls
                let again = try await Self.status(proxy, id)
                #expect(again["status"] as? String == "cancelled")
                #expect(fake.calls == calls)
                #expect(again["results"] == nil)
            }
        }
    }

    @Test func aRestartedProxyResumesTheJobWithoutRescoringFinishedPairs() async throws {
        let path = temporaryDirectory() + "/scores.sqlite"
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try await Self.restartMidJob { url in testPolicy(backends: [BackendConfig(name: "fake-0", url: url, maxBatch: 5)], sqlitePath: path) }
    }

    @Test(.enabled(if: sharedRedisURL != nil, "REDIS_URL is not set: start redis-server and export REDIS_URL (scripts/test.sh does)"))
    func aRestartedProxyResumesARedisJobWithoutRescoringFinishedPairs() async throws {
        let prefix = "rrjobs:\(UUID().uuidString.prefix(8)):"
        try await Self.restartMidJob { url in
            var policy = redisPolicy(url: sharedRedisURL!, backendURL: url, memoryEntries: 10_000)
            policy.cache.redis.prefix = prefix
            policy.models[0].backends[0].maxBatch = 5
            return policy
        }
    }

    @Test func aResumedJobWaitsUntilTheProxyIsReadyAndNeverReachesABackendTheCanaryRefuses() async throws {
        let good = FakeRerankBackend()
        let other = FakeRerankBackend()
        other.state.withLock { $0.scoreOffset = 0.1 }   // refused by the canary at every start
        good.delay(.milliseconds(30))
        let canary = CanaryConfig(query: "capital of france", document: "Paris is the capital of France.", tolerance: 1e-3)
        @Sendable func requests() -> [[String: Any]] { (0..<30).map { i in ["query": "job \(i)", "documents": documents(5, prefix: "r\(i)")] } }
        try await good.run { urlGood in
            try await other.run { urlOther in
                var policy = testPolicy(backends: [
                    BackendConfig(name: "gpu-a", url: urlGood, maxBatch: 5), BackendConfig(name: "gpu-b", url: urlOther, maxBatch: 5),
                ])
                policy.models[0].canary = canary
                policy.jobs.chunkPairs = 10
                let id = try await withProxy(policy) { proxy in
                    let id = try await Self.submit(proxy, ["requests": requests()])
                    try await until { (try? await Self.status(proxy, id)["progress"] as? [String: Any])?["requests_done"] as? Int ?? 0 >= 4 }
                    return id
                }
                // The next start's canary check waits on gpu-a; the job must not run meanwhile (gpu-b is not refused yet).
                let callsBefore = good.calls
                good.stallBody(true)
                let second = Task {
                    try await withProxy(policy) { proxy in
                        let done = try await Self.wait(proxy, id, for: ["succeeded", "failed"])
                        #expect(done["status"] as? String == "succeeded")
                        let results = try #require(done["results"] as? [Any])
                        let requests = requests()
                        for (i, result) in results.enumerated() { try Self.expectResult(result, requests[i]) }
                    }
                }
                try await until { good.calls > callsBefore }
                try await Task.sleep(for: .milliseconds(300))   // room for a job that started too early to reach gpu-b
                good.stallBody(false)
                try await second.value
                #expect(other.documents.allSatisfy { $0 == canary.document })
            }
        }
    }

    /// Submits a 150-pair job, stops the proxy once 4 requests are done, starts another on the same store and
    /// checks it finishes the job with every pair scored exactly once across both.
    static func restartMidJob(_ makePolicy: @escaping @Sendable (String) -> PolicyConfig) async throws {
        let fake = FakeRerankBackend()
        fake.delay(.milliseconds(30))
        @Sendable func requests() -> [[String: Any]] { (0..<30).map { i in ["query": "job \(i)", "documents": documents(5, prefix: "r\(i)")] } }
        try await fake.run { url in
            var policy = makePolicy(url)
            policy.jobs.chunkPairs = 10
            let id = try await withProxy(policy) { proxy in
                let id = try await Self.submit(proxy, ["requests": requests()])
                try await until { (try? await Self.status(proxy, id)["progress"] as? [String: Any])?["requests_done"] as? Int ?? 0 >= 4 }
                return id
            }
            // Stopped mid-job (after the chunk in flight): the rest is left for the next proxy.
            #expect(fake.pairs < 150)
            try await withProxy(policy) { proxy in
                let done = try await Self.wait(proxy, id, for: ["succeeded", "failed"])
                #expect(done["status"] as? String == "succeeded")
                let results = try #require(done["results"] as? [Any])
                #expect(results.count == 30)
                let requests = requests()
                for (i, result) in results.enumerated() { try Self.expectResult(result, requests[i]) }
            }
            // Every pair was scored exactly once across both runs.
            #expect(fake.pairs == 150)
        }
    }

    @Test(.enabled(if: sharedRedisURL != nil, "REDIS_URL is not set: start redis-server and export REDIS_URL (scripts/test.sh does)"))
    func twoReplicasOnOneRedisRunAJobOnceAndEitherCancelsIt() async throws {
        let fake = FakeRerankBackend()
        fake.delay(.milliseconds(30))
        let prefix = "rrjobs:\(UUID().uuidString.prefix(8)):"
        try await fake.run { url in
            var policy = redisPolicy(url: sharedRedisURL!, backendURL: url, memoryEntries: 10_000)
            policy.cache.redis.prefix = prefix
            policy.models[0].backends[0].maxBatch = 5
            policy.jobs.chunkPairs = 10
            let shared = policy
            try await withProxy(shared) { a in
                let id = try await Self.submit(a, ["requests": Self.requests(40, documents: 5)])
                try await until { (try? await Self.status(a, id)["status"] as? String) == "running" }
                // B starts while A runs the job: it sees the job unfinished but A holds its claim.
                try await withProxy(shared) { b in
                    let done = try await Self.wait(b, id, for: ["succeeded", "failed"])
                    #expect(done["status"] as? String == "succeeded")
                    let progress = try #require(done["progress"] as? [String: Any])
                    #expect(progress["done_pairs"] as? Int == 200)
                    #expect(progress["requests_done"] as? Int == 40)
                    #expect(fake.pairs == 35 * 5)
                    // A ran it alone: B's pipeline never saw a pair of it.
                    #expect(pairs(try await b.stats())["total"] == 0)

                    // Cancelled through B, the job A runs stops.
                    let second = try await Self.submit(a, ["requests": Self.requests(40, documents: 5, tag: "job second")])
                    try await until { (try? await Self.status(a, second)["progress"] as? [String: Any])?["requests_done"] as? Int ?? 0 >= 1 }
                    #expect(try await b.delete("/v1/rerank/jobs/\(second)").status == 200)
                    try await until { (try? await Self.status(a, second)["updated_at"] as? Int) != nil }
                    let next = try await Self.submit(a, ["requests": [["query": "other", "documents": ["x"]]]])
                    try await Self.wait(a, next, for: ["succeeded"])
                    let calls = fake.calls
                    let ended = try await Self.status(a, second)
                    #expect(ended["status"] as? String == "cancelled")
                    #expect(((ended["progress"] as? [String: Any])?["requests_done"] as? Int ?? 40) < 40)
                    #expect(fake.calls == calls)
                }
            }
        }
    }

    @Test func failedRequestsAreRetriedWithBackoffThenSucceed() async throws {
        let fake = FakeRerankBackend()
        fake.fail(with: 503)
        try await fake.run { url in
            var policy = testPolicy(backends: [BackendConfig(name: "fake-0", url: url)])
            policy.jobs.retries = 5
            policy.jobs.retryBackoff = DurationValue(.milliseconds(20), text: "20ms")
            try await withProxy(policy) { proxy in
                let requests = Self.requests(3, documents: 2)
                let id = try await Self.submit(proxy, ["requests": requests])
                try await until { (try? await Self.status(proxy, id)["progress"] as? [String: Any])?["retry_rounds"] as? Int ?? 0 >= 1 }
                let failing = try await Self.status(proxy, id)
                #expect(failing["status"] as? String == "running")
                #expect((failing["failed_requests"] as? [[String: Any]])?.map { $0["index"] as? Int } == [0, 1, 2])
                fake.fail(with: nil)
                let done = try await Self.wait(proxy, id, for: ["succeeded", "failed"])
                #expect(done["status"] as? String == "succeeded")
                #expect((done["failed_requests"] as? [Any])?.isEmpty == true)
                let results = try #require(done["results"] as? [Any])
                for (i, result) in results.enumerated() { try Self.expectResult(result, requests[i]) }
            }
        }
    }

    @Test func aJobWhoseRequestsKeepFailingFailsAndSaysWhich() async throws {
        let fake = FakeRerankBackend()
        fake.refuse(prefix: "bad")
        try await fake.run { url in
            var policy = testPolicy(backends: [BackendConfig(name: "fake-0", url: url)])
            policy.jobs.retries = 2
            policy.jobs.retryBackoff = DurationValue(.milliseconds(10), text: "10ms")
            try await withProxy(policy) { proxy in
                let requests: [[String: Any]] = [
                    ["query": "job a", "documents": ["fine", "also fine"]],
                    ["query": "job b", "documents": ["ok", "bad document"]],
                ]
                let id = try await Self.submit(proxy, ["requests": requests])
                let done = try await Self.wait(proxy, id, for: ["succeeded", "failed"])
                #expect(done["status"] as? String == "failed")
                let failed = try #require(done["failed_requests"] as? [[String: Any]])
                #expect(failed.map { $0["index"] as? Int } == [1])
                #expect(failed.first?["status"] as? Int == 400)
                #expect((failed.first?["message"] as? String)?.hasPrefix("requests[1]: documents[1] was refused") == true)
                let results = try #require(done["results"] as? [[String: Any]])
                try Self.expectResult(results[0], requests[0])
                #expect((results[1]["error"] as? [String: Any])?["code"] as? Int == 400)
                // A refused document fails the same way every time: it is not retried.
                #expect((done["progress"] as? [String: Any])?["retry_rounds"] as? Int == 0)
            }
        }
    }

    @Test func anInteractiveRequestNeverJoinsAJobsFlightQueuedBehindInteractiveTraffic() async throws {
        try await Self.withSharedBackend(delay: .milliseconds(200), maxConcurrency: 2, chunkPairs: 64) { fake, proxy in
            // One chunk of 7 queries: one job call at a time (its share is 1 of 2 slots), the rest wait in the lane.
            let id = try await Self.submit(proxy, ["requests": Self.requests(7, documents: 4)])
            try await until { fake.peak("job") >= 1 }
            // The pairs of the job's 7th request: the job has them in flight, but it may be the last to get a slot.
            let docs = documents(4, prefix: "doc 1")
            let reply = try await proxy.post("/v1/rerank", object: ["query": "job query 6", "documents": docs])
            #expect(reply.status == 200)
            // Scored on the free interactive slot, not by waiting on the job's flight.
            #expect(reply.header("X-Rerank-Cache") == "hits=0; coalesced=0; forwarded=4")
            let done = try await Self.wait(proxy, id, for: ["succeeded", "failed"], limit: .seconds(30))
            #expect(done["status"] as? String == "succeeded")
        }
    }

    @Test func interactiveRequestsKeepFlowingWhileALargeJobRuns() async throws {
        try await Self.withSharedBackend(delay: .milliseconds(40), maxConcurrency: 4, chunkPairs: 32) { fake, proxy in
            // 60 requests of 4 documents, 8 distinct queries per chunk: 8 backend calls wanted at once, 2 allowed.
            let id = try await Self.submit(proxy, ["requests": Self.requests(60, documents: 4)])
            try await until { (try? await Self.status(proxy, id)["status"] as? String) == "running" }
            for round in 0..<3 {
                let replies = try await withThrowingTaskGroup(of: ProxyClient.Reply.self) { group in
                    for n in 0..<4 {
                        let docs = documents(4, prefix: "live \(round)-\(n)")
                        group.addTask { try await proxy.post("/v1/rerank", object: ["query": "live \(n)", "documents": docs]) }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                #expect(replies.allSatisfy { $0.status == 200 })
            }
            // Interactive traffic was served while the job still had work left.
            let during = try await Self.status(proxy, id)
            #expect(during["status"] as? String == "running")
            let done = try await Self.wait(proxy, id, for: ["succeeded", "failed"], limit: .seconds(30))
            #expect(done["status"] as? String == "succeeded")
            // The job never held more than its share (2 of 4) of the backend's concurrency, and used it.
            #expect(fake.peak("job") == 2)
            #expect(fake.peak("live") >= 2)
        }
    }
}

extension ProxyClient {
    func delete(_ path: String) async throws -> Reply {
        var request = HTTPClientRequest(url: base + path)
        request.method = .DELETE
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 1 << 20)
        return Reply(status: Int(response.status.code), body: Data(buffer: body))
    }
}
