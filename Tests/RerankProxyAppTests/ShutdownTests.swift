import Foundation
import Logging
import RerankCache
import RerankCore
import RerankProxyApp
import ServiceLifecycle
import Testing

/// Graceful shutdown finishes in-flight requests, then flushes the cache and closes the store.
@Suite(.serialized) struct ShutdownTests {
    @Test func inFlightRequestFinishesAndItsScoresAreFlushed() async throws {
        let fake = FakeRerankBackend()
        fake.delay(.milliseconds(600))
        let path = temporaryDirectory() + "/scores.sqlite"
        let documents = ["in", "flight"]
        try await fake.run { url in
            let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
            let app = try buildApplication(
                policy: testPolicy(backends: [BackendConfig(name: "fake-0", url: url)], sqlitePath: path),
                options: .init(logger: quietLogger, onServerRunning: { channel in continuation.yield(channel.localAddress?.port ?? 0) })
            )
            let group = ServiceGroup(configuration: .init(services: [app], gracefulShutdownSignals: [], logger: quietLogger))
            let running = Task { try await group.run() }
            var iterator = ports.makeAsyncIterator()
            let proxy = ProxyClient(base: "http://127.0.0.1:\(await iterator.next() ?? 0)")
            let body = jsonText(["query": "shutdown", "documents": documents])
            let request = Task { try await proxy.post("/v1/rerank", body) }
            // Shut down while the backend is still working on the request.
            try await until { fake.calls > 0 }
            await group.triggerGracefulShutdown()
            let reply = try await request.value
            expectExact(reply, query: "shutdown", documents: documents)
            try await running.value
        }
        // The store was flushed and closed: a fresh handle on the file has both scores.
        let store = try SQLiteCacheStore(configuration: .init(path: path), logger: quietLogger)
        let encoder = CacheKeyEncoder(model: "test-model", revision: "", settings: .init(), query: "shutdown")
        let found = try await store.lookup(documents.map { encoder.key(document: $0) })
        #expect(found.map { $0?.score } == documents.map { FakeRerankBackend.score(query: "shutdown", document: $0) })
        store.close()
    }
}
