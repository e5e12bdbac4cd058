import Foundation
import InMemoryLogging
import Logging
import Metrics
import Prometheus
import RerankCache
import RerankCore
import RerankProxyApp
import Testing

/// A cache is only a cache: an unusable SQLite file never stops the proxy, and what the store is doing is
/// reported in /readyz, /v1/stats and /metrics.
@Suite(.serialized) struct StoreHealthTests {
    @Test func aCorruptSQLiteFileIsMovedAsideAndScoresAreCachedInANewFile() async throws {
        let directory = temporaryDirectory()
        let path = directory + "/scores.sqlite"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let garbage = Data((0..<16384).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ 17) })
        try garbage.write(to: URL(fileURLWithPath: path))
        let docs = documents(8)
        let fake = FakeRerankBackend()
        try await fake.run { url in
            try await withProxy(testPolicy(backends: [BackendConfig(name: "fake-0", url: url)], sqlitePath: path)) { proxy in
                expectExact(try await proxy.post("/v1/rerank", object: ["query": "q", "documents": docs]), query: "q", documents: docs)
                let ready = try await proxy.get("/readyz")
                #expect(ready.status == 200)
                let health = ready.object["store_health"] as? [String: Any]
                #expect(health?["status"] as? String == "ok")
                #expect((health?["moved_aside"] as? String)?.hasPrefix(path + ".corrupt-") == true)
                let stats = try await proxy.stats()
                #expect((stats["store_health"] as? [String: Any])?["moved_aside"] as? String == health?["moved_aside"] as? String)
            }
        }
        // The garbage is kept aside, byte for byte; the scores went into a new file at the configured path.
        let aside = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasPrefix("scores.sqlite.corrupt-") }
        #expect(aside.count == 1)
        #expect(try Data(contentsOf: URL(fileURLWithPath: directory + "/" + (aside.first ?? ""))) == garbage)
        let store = try SQLiteCacheStore(configuration: .init(path: path), logger: quietLogger)
        #expect(store.entryCount == docs.count)
        let encoder = CacheKeyEncoder(model: "test-model", revision: "", settings: .init(), query: "q")
        let found = try await store.lookup(docs.map { encoder.key(document: $0) })
        #expect(found.map { $0?.score.bitPattern } == docs.map { FakeRerankBackend.score(query: "q", document: $0).bitPattern })
        store.close()
    }

    @Test(arguments: [UnusableStorePath.directoryAtThePath, .parentIsAFile])
    func anUnusableStorePathRunsWithTheStoreOff(_ kind: UnusableStorePath) async throws {
        let path = try kind.make()
        let fake = FakeRerankBackend()
        try await fake.run { url in
            try await withProxy(testPolicy(backends: [BackendConfig(name: "fake-0", url: url)], sqlitePath: path)) { proxy in
                let ready = try await proxy.get("/readyz")
                #expect(ready.status == 200)
                #expect(ready.object["status"] as? String == "ready")
                #expect(ready.object["store"] as? String == "sqlite")
                let health = ready.object["store_health"] as? [String: Any]
                #expect(health?["status"] as? String == "off")
                #expect((health?["reason"] as? String)?.contains(path) == true)
                // Misses go to the backend, and the memory tier still caches.
                let docs = documents(5)
                for _ in 0..<2 {
                    expectExact(try await proxy.post("/v1/rerank", object: ["query": "q", "documents": docs]), query: "q", documents: docs)
                }
                #expect(fake.pairs == 5)
                let stats = try await proxy.stats()
                #expect((stats["store_health"] as? [String: Any])?["status"] as? String == "off")
                #expect((stats["tiers"] as? [String: Any])?["sqlite"] == nil)
                #expect(pairs(stats)["hits"] == 5)
            }
        }
        #expect(!(try FileManager.default.contentsOfDirectory(atPath: kind.parent(of: path))).contains { $0.contains(".corrupt-") })
    }

    @Test func droppedWritesAreCountedInStatsAndMetricsAndLoggedOncePerStateChange() async throws {
        let fake = FakeRerankBackend()
        try await fake.run { url in
            var policy = testPolicy(backends: [BackendConfig(name: "fake-0", url: url)])
            policy.cache.sqlite.maxPendingWrites = 3
            // No flush during the test: the queue stays full.
            policy.cache.sqlite.flushInterval = DurationValue(.seconds(60), text: "60s")
            let registry = PrometheusCollectorRegistry()
            let logs = InMemoryLogHandler()
            let options = AppOptions(logger: Logger(label: "rerank-proxy-test") { _ in logs }, registry: registry)
            let app = try withMetricsFactory(PrometheusMetricsFactory(registry: registry)) {
                try buildApplication(policy: policy, options: options)
            }
            try await app.test(.live) { client in
                let proxy = ProxyClient(base: "http://127.0.0.1:\(client.port!)")
                for round in 0..<3 {
                    let docs = documents(10, prefix: "round \(round)")
                    expectExact(try await proxy.post("/v1/rerank", object: ["query": "q", "documents": docs]), query: "q", documents: docs)
                }
                let stats = try await proxy.stats()
                #expect((stats["tiers"] as? [String: [String: Any]])?["sqlite"]?["dropped_writes"] as? Int == 27)
                let health = stats["store_health"] as? [String: Any]
                #expect(health?["status"] as? String == "degraded")
                #expect((health?["reason"] as? String)?.contains("write queue full") == true)
                // Degraded is reported, not a reason to take the proxy out of rotation.
                let ready = try await proxy.get("/readyz")
                #expect(ready.status == 200)
                #expect((ready.object["store_health"] as? [String: Any])?["status"] as? String == "degraded")
                let metrics = String(decoding: try await proxy.get("/metrics").body, as: UTF8.self)
                #expect(metrics.contains(#"rerank_cache_dropped_writes_total{tier="sqlite"} 27"#))
            }
            let full = logs.entries.filter { "\($0.message)".contains("write queue is full") }
            #expect(full.count == 1)
            #expect(full.first?.level == .warning)
        }
    }
}

/// A store path no SQLite file can live at.
enum UnusableStorePath: CustomStringConvertible, Sendable {
    case directoryAtThePath
    case parentIsAFile

    var description: String { self == .directoryAtThePath ? "a directory at the path" : "the path's directory is a file" }

    /// Creates the obstacle and returns the path to configure.
    func make() throws -> String {
        let directory = temporaryDirectory()
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        switch self {
        case .directoryAtThePath:
            try FileManager.default.createDirectory(atPath: directory + "/scores.sqlite", withIntermediateDirectories: true)
            return directory + "/scores.sqlite"
        case .parentIsAFile:
            try Data("not a directory".utf8).write(to: URL(fileURLWithPath: directory + "/data"))
            return directory + "/data/scores.sqlite"
        }
    }

    /// The temporary directory `make` worked in.
    func parent(of path: String) -> String {
        ((path as NSString).deletingLastPathComponent as NSString).deletingLastPathComponent
    }
}
