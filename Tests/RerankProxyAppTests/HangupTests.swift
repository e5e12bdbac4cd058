import Foundation
import RerankProxyApp
import Testing

/// `SIGHUP` to the real `rerank-proxy serve` binary in a child process reloads its policy file: a good file moves a
/// model to another backend and adds one, a bad one is refused and logged while the process keeps serving.
@Suite(.serialized) struct HangupTests {
    @Test func sighupReloadsThePolicyFileOfARunningProxy() async throws {
        let binary = try #require(proxyBinary(), "rerank-proxy is not built next to the tests; run `swift build --build-tests` first")
        let directory = temporaryDirectory()
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let (config, log) = (directory + "/policy.yaml", directory + "/proxy.log")
        let (a, b) = (FakeRerankBackend(), FakeRerankBackend())
        try await a.run { urlA in
            try await b.run { urlB in
                try ReloadTests.yaml([("m1", "fake-a", urlA)], sqlite: directory + "/scores.sqlite").write(toFile: config, atomically: true, encoding: .utf8)
                let child = try startProxy(binary: binary, config: config, log: log)
                defer { if child.isRunning { kill(child.processIdentifier, SIGKILL) } }
                let proxy = ProxyClient(base: "http://127.0.0.1:\(try await listeningPort(log: log, child: child))")
                // The handler is installed by a service that starts beside the server; a SIGHUP before it would kill.
                try await until(.seconds(30)) { tail(log).contains("SIGHUP reloads the policy file") }
                expectExact(try await proxy.post("/v1/rerank", object: ["query": "q", "documents": ["a"]]), query: "q", documents: ["a"])
                #expect(a.calls == 1)

                try ReloadTests.yaml([("m1", "fake-b", urlB), ("m2", "fake-a2", urlA)], sqlite: directory + "/scores.sqlite")
                    .write(toFile: config, atomically: true, encoding: .utf8)
                kill(child.processIdentifier, SIGHUP)
                try await until(.seconds(30)) { (try? await proxy.stats()["policy"] as? [String: Any])?["generation"] as? Int == 2 }
                expectExact(try await proxy.post("/v1/rerank", object: ["model": "m1", "query": "q", "documents": ["b"]]), query: "q", documents: ["b"])
                #expect(b.calls == 1)
                expectExact(try await proxy.post("/v1/rerank", object: ["model": "m2", "query": "q", "documents": ["c"]]), query: "q", documents: ["c"])
                #expect(a.calls == 2)

                try "models: [".write(toFile: config, atomically: true, encoding: .utf8)
                kill(child.processIdentifier, SIGHUP)
                try await until(.seconds(30)) { (try? await proxy.stats()["policy"] as? [String: Any])?["reload_failures"] as? Int == 1 }
                #expect(child.isRunning)
                #expect(tail(log).contains("policy reload refused"))
                let policy = try await proxy.stats()["policy"] as? [String: Any] ?? [:]
                #expect(policy["generation"] as? Int == 2)
                #expect(policy["reloads"] as? Int == 2)
                #expect(policy["file"] as? String == config)
                expectExact(try await proxy.post("/v1/rerank", object: ["model": "m2", "query": "q", "documents": ["d"]]), query: "q", documents: ["d"])

                kill(child.processIdentifier, SIGTERM)
                child.waitUntilExit()
                #expect(child.terminationStatus == 0, "\(tail(log))")
            }
        }
    }
}
