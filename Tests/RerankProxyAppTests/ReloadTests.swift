import Foundation
import Hummingbird
import HummingbirdTesting
import InMemoryLogging
import Logging
import Metrics
import NIOCore
import Prometheus
@testable import RerankProxyApp
import Testing

/// `POST /admin/reload` over real HTTP against in-process fake backends: a good file swaps models and backends
/// without failing a request in flight, a bad one is refused while the old pool keeps serving.
@Suite(.serialized) struct ReloadTests {
    /// A proxy whose policy lives in a file the test rewrites.
    struct Reloadable: Sendable {
        let proxy: ProxyClient
        let file: String
        let logs: InMemoryLogHandler

        func write(_ yaml: String) throws { try yaml.write(toFile: file, atomically: true, encoding: .utf8) }

        func reload(headers: [String: String] = [:]) async throws -> ProxyClient.Reply {
            try await proxy.post("/admin/reload", "", headers: headers)
        }

        func policyStats() async throws -> [String: Any] { try await proxy.stats()["policy"] as? [String: Any] ?? [:] }

        func metrics() async throws -> String { String(decoding: try await proxy.get("/metrics").body, as: UTF8.self) }
    }

    static let adminKey = "sk-admin-0123456789"

    /// A policy file: one model per (name, backend name, url), each ejecting a backend after one failure for 60 s.
    static func yaml(_ models: [(name: String, backend: String, url: String)], sqlite: String, tail: String = "") -> String {
        var text = """
            server: { host: 127.0.0.1, port: 0 }
            cache:
              memory_entries: 1000
              sqlite: { path: "\(sqlite)" }
            models:

            """
        for model in models {
            text += """
                  - name: \(model.name)
                    eject_after: 1
                    eject_for: 60s
                    backends:
                      - { name: \(model.backend), url: "\(model.url)", timeout: 30s }

                """
        }
        return text + tail
    }

    /// Runs the proxy on the policy in a temp file (the `serve` command's options but SIGHUP) for `body`.
    func withReloadableProxy<T: Sendable>(_ yaml: @Sendable (String) -> String, _ body: @Sendable (Reloadable) async throws -> T) async throws -> T {
        let directory = temporaryDirectory()
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let file = directory + "/policy.yaml"
        try yaml(directory + "/scores.sqlite").write(toFile: file, atomically: true, encoding: .utf8)
        let (policy, sha256) = try PolicyConfig.loadHashed(file: file)
        let registry = PrometheusCollectorRegistry()
        let logs = InMemoryLogHandler()
        let options = AppOptions(
            logger: Logger(label: "rerank-proxy-test") { _ in logs }, registry: registry, policyFile: file, policySHA256: sha256
        )
        let app = try withMetricsFactory(PrometheusMetricsFactory(registry: registry)) { try buildApplication(policy: policy, options: options) }
        return try await app.test(.live) { client in
            try await body(Reloadable(proxy: ProxyClient(base: "http://127.0.0.1:\(client.port!)"), file: file, logs: logs))
        }
    }

    @Test func aModelThatAReloadRebuildsKeepsItsPurges() async throws {
        let (a, b) = (FakeRerankBackend(), FakeRerankBackend())
        try await a.run { urlA in
            try await b.run { urlB in
                try await withReloadableProxy({ Self.yaml([("m1", "fake-a", urlA)], sqlite: $0) }) { p in
                    let body = ["query": "q", "model": "m1", "documents": ["a", "b"]] as [String: Any]
                    expectExact(try await p.proxy.post("/v1/rerank", object: body), query: "q", documents: ["a", "b"])
                    #expect(try await p.proxy.post("/admin/purge", object: ["model": "m1"]).status == 200)
                    // A new backend URL: m1 is rebuilt with a new pool, and must keep generation 1.
                    let sqlite = URL(fileURLWithPath: p.file).deletingLastPathComponent().path + "/scores.sqlite"
                    try p.write(Self.yaml([("m1", "fake-b", urlB)], sqlite: sqlite))
                    #expect(try await p.reload().object["models"].flatMap { ($0 as? [String: [String]])?["changed"] } == ["m1"])
                    let after = try await p.proxy.post("/v1/rerank", object: body)
                    expectExact(after, query: "q", documents: ["a", "b"])
                    #expect(after.header("X-Rerank-Cache") == "hits=0; coalesced=0; forwarded=2")
                    #expect(b.calls == 1)
                }
            }
        }
    }

    @Test func aGoodFileAddsAModelMovesABackendAndKeepsTheCache() async throws {
        let (a, b, steady) = (FakeRerankBackend(), FakeRerankBackend(), FakeRerankBackend())
        try await a.run { urlA in
            try await b.run { urlB in
                try await steady.run { urlSteady in
                    try await withReloadableProxy({ Self.yaml([("m1", "fake-a", urlA), ("steady", "fake-s", urlSteady)], sqlite: $0) }) { p in
                        let first = ["query": "q", "model": "m1", "documents": ["a", "b"]] as [String: Any]
                        expectExact(try await p.proxy.post("/v1/rerank", object: first), query: "q", documents: ["a", "b"])
                        #expect(a.calls == 1)
                        // The unchanged model's backend is ejected now; a kept pool remembers that, a new one would not.
                        steady.fail(with: 500)
                        #expect(try await p.proxy.post("/v1/rerank", object: ["model": "steady", "query": "q", "documents": ["x"]]).status == 502)
                        steady.fail(with: nil)
                        let before = try await p.policyStats()
                        #expect(before["generation"] as? Int == 1)
                        #expect(try await p.metrics().contains(#"rerank_backend_healthy{model="m1",backend="fake-a"} 1"#))

                        let sqlite = URL(fileURLWithPath: p.file).deletingLastPathComponent().path + "/scores.sqlite"
                        try p.write(Self.yaml([("m1", "fake-b", urlB), ("steady", "fake-s", urlSteady), ("m2", "fake-a2", urlA)], sqlite: sqlite))
                        let reply = try await p.reload()
                        #expect(reply.status == 200, "\(String(decoding: reply.body, as: UTF8.self))")
                        let models = reply.object["models"] as? [String: [String]]
                        #expect(models?["added"] == ["m2"])
                        #expect(models?["changed"] == ["m1"])
                        #expect(models?["unchanged"] == ["steady"])
                        #expect(models?["removed"] == [])
                        #expect(reply.object["generation"] as? Int == 2)

                        // The changed backend URL is used by the next request; the new model answers.
                        let next = ["query": "q", "model": "m1", "documents": ["c"]] as [String: Any]
                        expectExact(try await p.proxy.post("/v1/rerank", object: next), query: "q", documents: ["c"])
                        #expect(b.calls == 1)
                        #expect(a.calls == 1)
                        expectExact(try await p.proxy.post("/v1/rerank", object: ["model": "m2", "query": "q", "documents": ["d"]]), query: "q", documents: ["d"])
                        #expect(a.calls == 2)
                        // The cache survived: m1's first pairs are hits, sent nowhere.
                        let again = try await p.proxy.post("/v1/rerank", object: first)
                        expectExact(again, query: "q", documents: ["a", "b"])
                        #expect(again.header("X-Rerank-Cache") == "hits=2; coalesced=0; forwarded=0")
                        #expect(a.calls + b.calls == 3)
                        // The unchanged model kept its pool, ejection included.
                        let ready = try await p.proxy.get("/readyz").object["models"] as? [[String: Any]] ?? []
                        #expect(ready.first { $0["name"] as? String == "steady" }?["healthy_backends"] as? Int == 0)
                        #expect(ready.map { $0["name"] as? String } == ["m1", "steady", "m2"])

                        let policy = try await p.policyStats()
                        #expect(policy["generation"] as? Int == 2)
                        #expect(policy["reloads"] as? Int == 1)
                        #expect(policy["reload_failures"] as? Int == 0)
                        #expect(policy["sha256"] as? String == (try PolicyConfig.loadHashed(file: p.file)).sha256)
                        #expect(policy["sha256"] as? String != before["sha256"] as? String)
                        let backends = (try await p.proxy.stats()["backends"] as? [[String: Any]] ?? []).map { "\($0["model"]!)/\($0["name"]!)" }
                        #expect(backends == ["m1/fake-b", "steady/fake-s", "m2/fake-a2"])
                        let metrics = try await p.metrics()
                        #expect(metrics.contains("rerank_reload_total 1"))
                        #expect(metrics.contains("rerank_reload_failures_total 0"))
                        #expect(metrics.contains("rerank_policy_generation 2.0"))
                        #expect(metrics.contains(#"rerank_backend_pairs_total{model="m2",backend="fake-a2"} 1"#))
                        // The gauges of m1's replaced backend are gone, not frozen at their last value (its counters stay).
                        #expect(metrics.contains(#"rerank_backend_healthy{model="m1",backend="fake-b"} 1"#))
                        for gauge in ["rerank_backend_healthy", "rerank_backend_in_flight", "rerank_backend_queue_depth"] {
                            #expect(!metrics.contains(gauge + #"{model="m1",backend="fake-a"}"#))
                        }
                        // Nothing was in flight on m1's old pool: it is freed, and no longer probed.
                        try await until { (try? await p.policyStats()["draining_pools"] as? Int) == 0 }
                    }
                }
            }
        }
    }

    @Test func aRequestInFlightFinishesOnTheOldPoolWhileNewOnesUseTheNewOne() async throws {
        let (a, b) = (FakeRerankBackend(), FakeRerankBackend())
        try await a.run { urlA in
            try await b.run { urlB in
                try await withReloadableProxy({ Self.yaml([("m1", "fake-a", urlA)], sqlite: $0) }) { p in
                    a.stallBody(true)
                    let slow = Task { try await p.proxy.post("/v1/rerank", object: ["query": "q", "documents": ["slow"]]) }
                    try await until { a.calls == 1 }

                    let sqlite = URL(fileURLWithPath: p.file).deletingLastPathComponent().path + "/scores.sqlite"
                    try p.write(Self.yaml([("m1", "fake-b", urlB)], sqlite: sqlite))
                    #expect(try await p.reload().status == 200)
                    expectExact(try await p.proxy.post("/v1/rerank", object: ["query": "q", "documents": ["fast"]]), query: "q", documents: ["fast"])
                    #expect(b.calls == 1)
                    #expect(try await p.policyStats()["draining_pools"] as? Int == 1)

                    a.stallBody(false)
                    expectExact(try await slow.value, query: "q", documents: ["slow"])
                    #expect(a.calls == 1)
                    try await until { (try? await p.policyStats()["draining_pools"] as? Int) == 0 }
                }
            }
        }
    }

    @Test func aBadFileIsRefusedLoggedAndCountedAndTheOldPoolKeepsServing() async throws {
        let a = FakeRerankBackend()
        try await a.run { urlA in
            try await withReloadableProxy({ Self.yaml([("m1", "fake-a", urlA)], sqlite: $0) }) { p in
                let sqlite = URL(fileURLWithPath: p.file).deletingLastPathComponent().path + "/scores.sqlite"
                let good = Self.yaml([("m1", "fake-a", urlA)], sqlite: sqlite)
                try p.write(good.replacingOccurrences(of: "timeout: 30s", with: "timeout: 5 parsecs"))
                let invalid = try await p.reload()
                #expect(invalid.status == 422)
                let message = invalid.object["message"] as? String ?? ""
                #expect(message.contains("models[0].backends[0].timeout"))
                #expect(message.contains("parsecs"))
                #expect((invalid.object["error"] as? [String: Any])?["code"] as? String == "invalid_policy")

                // A setting read only at start: refused, naming the key, nothing applied (not even the new model).
                try p.write(
                    Self.yaml([("m1", "fake-a", urlA), ("m2", "fake-a2", urlA)], sqlite: sqlite + "-elsewhere")
                        .replacingOccurrences(of: "port: 0", with: "port: 0, max_documents: 5")
                )
                let restart = try await p.reload()
                #expect(restart.status == 409)
                let restartMessage = restart.object["message"] as? String ?? ""
                #expect(restartMessage.contains("server.max_documents, cache.sqlite.path changed"))
                #expect((restart.object["error"] as? [String: Any])?["code"] as? String == "restart_required")

                expectExact(try await p.proxy.post("/v1/rerank", object: ["query": "q", "documents": ["a"]]), query: "q", documents: ["a"])
                #expect(a.calls == 1)
                #expect(try await p.proxy.post("/v1/rerank", object: ["model": "m2", "query": "q", "documents": ["a"]]).status == 404)
                let policy = try await p.policyStats()
                #expect(policy["generation"] as? Int == 1)
                #expect(policy["reloads"] as? Int == 2)
                #expect(policy["reload_failures"] as? Int == 2)
                #expect(policy["last_reload_error"] as? String == restartMessage)
                let metrics = try await p.metrics()
                #expect(metrics.contains("rerank_reload_total 2"))
                #expect(metrics.contains("rerank_reload_failures_total 2"))
                #expect(metrics.contains("rerank_policy_generation 1.0"))
                let refused = p.logs.entries.filter { "\($0.message)".contains("policy reload refused") }
                #expect(refused.count == 2)
                #expect(refused.allSatisfy { $0.level == .error })
                #expect(refused.first.map { "\($0.metadata["error.message"] ?? "")".contains("parsecs") } == true)

                // Fixed, it loads.
                try p.write(good)
                #expect(try await p.reload().status == 200)
                #expect(try await p.policyStats()["last_reload_error"] == nil)
            }
        }
    }

    @Test func reloadNeedsAnAdminKeyOnceAdminKeysExistAndReloadsTheKeys() async throws {
        let a = FakeRerankBackend()
        try await a.run { urlA in
            let auth: @Sendable (String) -> String = { client in
                """
                auth:
                  keys:
                    - { name: limited, key: "sk-limited-0123456789", rate: 1/m, burst: 1 }
                    - { name: \(client), key: "sk-\(client)-0123456789" }
                  admin_keys: ["\(Self.adminKey)"]

                """
            }
            try await withReloadableProxy({ Self.yaml([("m1", "fake-a", urlA)], sqlite: $0, tail: auth("old")) }) { p in
                let body: [String: Any] = ["query": "q", "documents": ["a"]]
                #expect(try await p.proxy.post("/v1/rerank", object: body, headers: ["api-key": "sk-old-0123456789"]).status == 200)
                #expect(try await p.proxy.post("/v1/rerank", object: body, headers: ["api-key": "sk-limited-0123456789"]).status == 200)
                let sqlite = URL(fileURLWithPath: p.file).deletingLastPathComponent().path + "/scores.sqlite"
                try p.write(Self.yaml([("m1", "fake-a", urlA)], sqlite: sqlite, tail: auth("new")))

                #expect(try await p.reload().status == 401)
                #expect(try await p.reload(headers: ["Authorization": "Bearer sk-old-0123456789"]).status == 401)
                #expect(try await p.policyStats()["reloads"] as? Int == 0)
                let reply = try await p.reload(headers: ["Authorization": "Bearer \(Self.adminKey)"])
                #expect(reply.status == 200)
                #expect(reply.object["auth_changed"] as? Bool == true)

                #expect(try await p.proxy.post("/v1/rerank", object: body, headers: ["api-key": "sk-old-0123456789"]).status == 401)
                #expect(try await p.proxy.post("/v1/rerank", object: body, headers: ["api-key": "sk-new-0123456789"]).status == 200)
                // A key whose limit did not change keeps its bucket: the token it spent stays spent.
                #expect(try await p.proxy.post("/v1/rerank", object: body, headers: ["api-key": "sk-limited-0123456789"]).status == 429)
                let keys = try await p.proxy.stats()["keys"] as? [String: [String: Int]] ?? [:]
                #expect(keys["new"]?["requests"] == 1)
                #expect(keys["old"] == nil)
                #expect(keys["limited"]?["requests"] == 1)
                #expect(keys["limited"]?["rejected"] == 1)
                #expect(keys["unknown"]?["rejected"] == 1)
            }
        }
    }

    @Test func anAppBuiltWithoutAPolicyFileHasNothingToReload() async throws {
        try await withProxy(testPolicy(backends: [BackendConfig(name: "fake-0", url: "http://127.0.0.1:9")])) { proxy in
            let reply = try await proxy.post("/admin/reload", "")
            #expect(reply.status == 409)
            #expect((reply.object["error"] as? [String: Any])?["code"] as? String == "no_policy_file")
        }
    }

    @Test(arguments: [
        ("127.0.0.1", true), ("127.8.9.10", true), ("::1", true), ("::ffff:127.0.0.1", true),
        ("10.0.0.5", false), ("128.0.0.1", false), ("::ffff:10.0.0.1", false), ("fe80::1", false), ("192.168.1.127", false),
    ])
    func onlyLoopbackPeersMayReloadWithoutAdminKeys(address: String, loopback: Bool) throws {
        #expect(AdminController.isLoopback(try SocketAddress(ipAddress: address, port: 1234)) == loopback)
    }
}
