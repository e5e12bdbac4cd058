import Foundation
import RerankCache
import RerankCore
import RerankProxyApp
import Testing

/// The shared test Redis (`.ci/run` and `scripts/test.sh` start one and export it); `nil` skips these tests.
let sharedRedisURL = ProcessInfo.processInfo.environment["REDIS_URL"].flatMap { $0.isEmpty ? nil : $0 }

/// The `redis-server` binary, for tests that stop and restart a Redis of their own.
let redisServerPath: String? = ["/usr/bin/redis-server", "/usr/local/bin/redis-server", "/usr/sbin/redis-server"]
    .first { FileManager.default.isExecutableFile(atPath: $0) }

func redisPolicy(url: String, backendURL: String, memoryEntries: Int) -> PolicyConfig {
    var policy = testPolicy(backends: [BackendConfig(name: "fake-0", url: backendURL)], store: .redis, memoryEntries: memoryEntries)
    policy.cache.redis.url = url
    policy.cache.redis.prefix = "rrapp:\(UUID().uuidString.prefix(8)):"
    return policy
}

/// A private, memory-only redis-server this test can stop and restart (never the shared one).
///
/// `@unchecked Sendable`: `process` is only touched under `lock`.
final class OwnRedisServer: @unchecked Sendable {
    /// Below Linux's ephemeral range (32768 and up), where test servers bound to port 0 and clients live: a port
    /// another listener holds would make redis-server exit while that listener answers in its place.
    let port = Int.random(in: 20_000..<32_000)
    private let lock = NSLock()
    private var process: Process?
    var url: String { "redis://127.0.0.1:\(port)/0" }

    init() throws { try start() }
    deinit { stop() }

    func start() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: redisServerPath ?? "/usr/bin/redis-server")
        process.arguments = ["--port", "\(port)", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        lock.withLock { self.process = process }
        let deadline = Date().addingTimeInterval(5)
        while Date() < deadline, process.isRunning {
            if portAccepts(port) { return }
            Thread.sleep(forTimeInterval: 0.02)
        }
        // It exited (its port was taken) or never listened: fail here, not later against a stranger on the port.
        throw CocoaError(.executableLoad, userInfo: [NSLocalizedDescriptionKey: "redis-server did not start on port \(port)"])
    }

    func stop() {
        let process = lock.withLock { () -> Process? in defer { self.process = nil }; return self.process }
        guard let process, process.isRunning else { return }
        // SIGKILL: a crash, as the tests mean (nothing is persisted anyway); the child may inherit a mask that
        // blocks SIGTERM. Stopped once its port refuses connections. Not waitUntilExit(): it relies on
        // Foundation's run loop reaping the child, which can hang on a concurrency thread.
        kill(process.processIdentifier, SIGKILL)
        let deadline = Date().addingTimeInterval(5)
        while portAccepts(port), Date() < deadline { Thread.sleep(forTimeInterval: 0.005) }
    }
}

/// `cache.store: redis` end to end: exact scores, shared between proxies, and Redis never a point of failure.
// Skipped, visibly, when REDIS_URL is unset: `.ci/run` and `scripts/test.sh` start a redis-server and set it.
@Suite(.serialized, .enabled(if: sharedRedisURL != nil, "REDIS_URL is not set: start redis-server and export REDIS_URL (scripts/test.sh does)"))
struct RedisStoreTests {
    @Test func aSecondProxyOnTheSameRedisGetsTheFirstOnesScoresAsHits() async throws {
        let fake = FakeRerankBackend()
        try await fake.run { url in
            let first = redisPolicy(url: sharedRedisURL!, backendURL: url, memoryEntries: 1000)
            var second = first
            second.cache.memoryEntries = 0
            let docs = documents(30)
            try await withProxy(first) { proxy in
                expectExact(try await proxy.post("/v1/rerank", object: ["query": "q", "documents": docs]), query: "q", documents: docs)
                #expect(fake.pairs == 30)
            }  // shutdown flushes the write queue
            try await withProxy(second) { proxy in
                expectExact(try await proxy.post("/v1/rerank", object: ["query": "q", "documents": docs]), query: "q", documents: docs)
                #expect(fake.pairs == 30)
                let stats = try await proxy.stats()
                let redis = (stats["tiers"] as? [String: Any])?["redis"] as? [String: Any]
                #expect(redis?["hits"] as? Int == 30)
                #expect((stats["store_health"] as? [String: Any])?["status"] as? String == "ok")
            }
        }
    }

    @Test func fiftyConcurrentColdRequestsOverTwoProxiesScoreEachPairOnce() async throws {
        let fake = FakeRerankBackend()
        fake.delay(.milliseconds(150))
        try await fake.run { url in
            let policy = redisPolicy(url: sharedRedisURL!, backendURL: url, memoryEntries: 1000)
            let docs = documents(10, prefix: "shared-\(UUID().uuidString.prefix(6))")
            try await withProxy(policy) { a in
                try await withProxy(policy) { b in
                    let replies = try await withThrowingTaskGroup(of: ProxyClient.Reply.self) { group in
                        for n in 0..<50 {
                            let proxy = n % 2 == 0 ? a : b
                            group.addTask { try await proxy.post("/v1/rerank", object: ["query": "q", "documents": docs]) }
                        }
                        return try await group.reduce(into: []) { $0.append($1) }
                    }
                    for reply in replies { expectExact(reply, query: "q", documents: docs) }
                    // Each pair scored by a backend once in total, across both replicas.
                    #expect(fake.pairs == docs.count)
                }
            }
        }
    }

    @Test(.enabled(if: redisServerPath != nil, "redis-server is not installed"))
    func killingRedisUnderLoadLosesNoRequestAndHitsResumeAfterARestart() async throws {
        let server = try OwnRedisServer()
        defer { server.stop() }
        let fake = FakeRerankBackend()
        try await fake.run { url in
            let policy = redisPolicy(url: server.url, backendURL: url, memoryEntries: 0)
            try await withProxy(policy) { proxy in
                let statuses = try await withThrowingTaskGroup(of: [Int].self) { group in
                    for worker in 0..<4 {
                        group.addTask {
                            var statuses: [Int] = []
                            for round in 0..<40 {
                                let docs = documents(5, prefix: "w\(worker)-\(round % 10)")
                                let reply = try await proxy.post("/v1/rerank", object: ["query": "q", "documents": docs])
                                if reply.status == 200 { expectExact(reply, query: "q", documents: docs) }
                                statuses.append(reply.status)
                            }
                            return statuses
                        }
                    }
                    group.addTask {
                        // Midway: once a quarter of the requests have been scored.
                        try await until { fake.calls >= 10 }
                        server.stop()
                        return []
                    }
                    return try await group.reduce(into: []) { $0 += $1 }
                }
                #expect(statuses.count == 160)
                #expect(statuses.allSatisfy { $0 == 200 })
                // A request after the kill is served too, and shows Redis down in /readyz.
                let fresh = documents(4, prefix: "while-down")
                expectExact(try await proxy.post("/v1/rerank", object: ["query": "q", "documents": fresh]), query: "q", documents: fresh)
                let down = try await proxy.get("/readyz").object["store_health"] as? [String: Any]
                #expect(down?["status"] as? String == "degraded")
                #expect((down?["reason"] as? String)?.hasPrefix("redis unreachable") == true)

                try server.start()
                // Back without a restart of the proxy: store_health ok once a flush reconnects.
                try await until(.seconds(10)) {
                    (try? await proxy.get("/readyz").object["store_health"] as? [String: Any])?["status"] as? String == "ok"
                }
                let docs = documents(6, prefix: "after-restart")
                _ = try await proxy.post("/v1/rerank", object: ["query": "q", "documents": docs])
                let forwarded = fake.pairs
                // Wait for the writer's flush to reach the restarted Redis (read it directly, not through the proxy).
                let reader = try RedisCacheStore(configuration: .init(url: server.url, prefix: policy.cache.redis.prefix), logger: quietLogger)
                let encoder = CacheKeyEncoder(model: "test-model", revision: "", settings: .init(), query: "q")
                let keys = docs.map { encoder.key(document: $0) }
                try await until { (try? await reader.lookup(keys))?.allSatisfy { $0 != nil } == true }
                expectExact(try await proxy.post("/v1/rerank", object: ["query": "q", "documents": docs]), query: "q", documents: docs)
                #expect(fake.pairs == forwarded)
                let redis = (try await proxy.stats()["tiers"] as? [String: Any])?["redis"] as? [String: Any]
                #expect((redis?["hits"] as? Int ?? 0) >= 6)
            }
        }
    }
}

/// Whether something accepts TCP connections on 127.0.0.1:`port`.
func portAccepts(_ port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    } == 0
}
