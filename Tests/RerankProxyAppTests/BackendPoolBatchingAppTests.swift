import AsyncHTTPClient
import Foundation
import Metrics
import NIOCore
import Prometheus
import Testing

@testable import RerankBackends
@testable import RerankProxyApp

/// Cross-request batching and failover under load, over real HTTP to in-process fake vLLM backends.
@Suite(.serialized) struct BackendPoolBatchingAppTests {
    func vllmPolicy(_ urls: [String], window: DurationValue, maxConcurrency: Int = 1) -> PolicyConfig {
        var policy = testPolicy(backends: urls.enumerated().map { i, url in
            var backend = BackendConfig(name: "gpu-\(i)", api: .vllm, url: url, maxBatch: 64)
            backend.maxConcurrency = maxConcurrency
            return backend
        })
        policy.models[0].batchWindow = window
        return policy
    }

    @Test func concurrentSingleMissRequestsOfDifferentQueriesShareFewCalls() async throws {
        let a = FakeRerankBackend()
        let b = FakeRerankBackend()
        // Slow enough that both GPUs are busy while the 32 requests arrive: they queue and pack.
        a.delay(.milliseconds(400))
        b.delay(.milliseconds(400))
        try await a.run { urlA in
            try await b.run { urlB in
                try await withProxy(vllmPolicy([urlA, urlB], window: DurationValue(.milliseconds(2), text: "2ms"))) { proxy in
                    // Its own client: the shared one opens at most 8 connections to a host, which would send the 32 in rounds.
                    let client = HTTPClient(configuration: .init(connectionPool: .init(idleTimeout: .seconds(5), concurrentHTTP1ConnectionsPerHostSoftLimit: 64)))
                    async let load: Void = withThrowingTaskGroup(of: Void.self) { group in
                        for n in 0..<32 {
                            group.addTask {
                                let query = "query number \(n)"
                                let docs = ["passage for \(n)"]
                                var request = HTTPClientRequest(url: proxy.base + "/v1/rerank")
                                request.method = .POST
                                request.headers.add(name: "content-type", value: "application/json")
                                request.body = .bytes(ByteBuffer(string: jsonText(["query": query, "documents": docs])))
                                let response = try await client.execute(request, timeout: .seconds(30))
                                let body = try await response.body.collect(upTo: 1 << 20)
                                let reply = ProxyClient.Reply(status: Int(response.status.code), body: Data(buffer: body))
                                expectExact(reply, query: query, documents: docs)
                            }
                        }
                        try await group.waitForAll()
                    }
                    var failure: (any Error)?
                    do { try await load } catch { failure = error }
                    try await client.shutdown()
                    if let failure { throw failure }
                    let calls = a.calls + b.calls
                    // Without batching: 32 calls. With it: the first call per GPU, then a few packed ones.
                    #expect(calls <= 8, "\(calls) backend calls for 32 single-miss requests")
                    #expect(a.pairs + b.pairs == 32)
                    #expect(a.state.withLock { $0.scoreCalls } + b.state.withLock { $0.scoreCalls } == calls)
                    let stats = try await proxy.stats()
                    let backends = stats["backends"] as? [[String: Any]] ?? []
                    let shared = backends.compactMap { $0["mean_batch_requests"] as? Double }
                    #expect(shared.contains { $0 > 1 })
                    #expect(backends.allSatisfy { $0["healthy"] as? Bool == true && $0["queued"] as? Int == 0 && $0["retries"] as? Int == 0 })
                    let model = (stats["models"] as? [[String: Any]])?.first
                    #expect(model?["batching_pairs"] as? Int == 0)
                }
            }
        }
    }

    @Test func withoutABatchWindowEveryRequestIsItsOwnCall() async throws {
        let a = FakeRerankBackend()
        a.delay(.milliseconds(50))
        try await a.run { url in
            try await withProxy(vllmPolicy([url], window: DurationValue(.zero, text: "0"), maxConcurrency: 64)) { proxy in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for n in 0..<8 {
                        group.addTask {
                            let reply = try await proxy.post("/v1/rerank", object: ["query": "q\(n)", "documents": ["d\(n)"]])
                            #expect(reply.status == 200)
                        }
                    }
                    try await group.waitForAll()
                }
                #expect(a.calls == 8)
            }
        }
    }

    @Test func oneOfTwoBackendsKilledUnderLoadFailsNoRequest() async throws {
        let a = FakeRerankBackend()
        let b = FakeRerankBackend()
        a.delay(.milliseconds(5))
        b.delay(.milliseconds(5))
        let (urls, urlSink) = AsyncStream.makeStream(of: String.self)
        let (kill, killSwitch) = AsyncStream.makeStream(of: Void.self)
        // b serves until the test kills it; then its port refuses connections.
        let bServer = Task {
            try await b.run { url in
                urlSink.yield(url)
                for await _ in kill {}
            }
        }
        var iterator = urls.makeAsyncIterator()
        let urlB = await iterator.next() ?? ""
        try await a.run { urlA in
            var policy = vllmPolicy([urlA, urlB], window: DurationValue(.milliseconds(2), text: "2ms"), maxConcurrency: 4)
            policy.models[0].ejectAfter = 3   // the default: calls keep reaching the dead port for a while
            try await withProxy(policy) { proxy in
                let failures = try await withThrowingTaskGroup(of: Int.self) { group in
                    for worker in 0..<8 {
                        group.addTask {
                            var failed = 0
                            for n in 0..<30 {
                                if worker == 0 && n == 8 {
                                    killSwitch.finish()
                                    _ = try? await bServer.value
                                }
                                let query = "worker \(worker) request \(n)"
                                let docs = documents(3, prefix: query)
                                let reply = try await proxy.post("/v1/rerank", object: ["query": query, "documents": docs])
                                if reply.status != 200 { failed += 1 }
                                expectExact(reply, query: query, documents: docs)
                            }
                            return failed
                        }
                    }
                    return try await group.reduce(0, +)
                }
                #expect(failures == 0)
                let backends = try await proxy.stats()["backends"] as? [[String: Any]] ?? []
                let gpuB = backends.first { $0["name"] as? String == "gpu-1" }
                let gpuA = backends.first { $0["name"] as? String == "gpu-0" }
                // b was tried after its death, and its calls were retried on a.
                #expect((gpuB?["errors"] as? Int ?? 0) > 0)
                #expect((gpuA?["retries"] as? Int ?? 0) > 0)
            }
        }
        killSwitch.finish()
        _ = try? await bServer.value
    }

    @Test func metricsCarryThePoolGaugesAndCallCounters() async throws {
        let fake = FakeRerankBackend()
        try await fake.run { url in
            let registry = PrometheusCollectorRegistry()
            let policy = vllmPolicy([url], window: DurationValue(.milliseconds(2), text: "2ms"))
            let app = try withMetricsFactory(PrometheusMetricsFactory(registry: registry)) {
                try buildApplication(policy: policy, options: .init(logger: quietLogger, registry: registry))
            }
            try await app.test(.live) { client in
                let proxy = ProxyClient(base: "http://127.0.0.1:\(client.port!)")
                let docs = documents(3)
                expectExact(try await proxy.post("/v1/rerank", object: ["query": "q", "documents": docs]), query: "q", documents: docs)
                let metrics = String(decoding: try await proxy.get("/metrics").body, as: UTF8.self)
                for line in [
                    #"rerank_backend_calls_total{model="test-model",backend="gpu-0"} 1"#,
                    #"rerank_backend_batched_requests_total{model="test-model",backend="gpu-0"} 1"#,
                    #"rerank_backend_healthy{model="test-model",backend="gpu-0"} 1"#,
                    #"rerank_backend_in_flight{model="test-model",backend="gpu-0"} 0"#,
                    #"rerank_backend_queue_depth{model="test-model",backend="gpu-0"} 0"#,
                    #"rerank_model_queued_pairs{model="test-model"} 0"#,
                ] {
                    #expect(metrics.contains(line), "\(line) missing from /metrics")
                }
            }
        }
    }
}
