import Foundation
import RerankCache
import Synchronization
import TestSupport
import Testing

@testable import RerankProxyApp

/// `rerank-proxy cache purge` against running replicas, and the `cache` commands as the built binary.
@Suite(.serialized) struct CacheCommandTests {
    /// `model`'s cache generation in a proxy's `/v1/stats`.
    func generation(_ proxy: ProxyClient, _ model: String) async throws -> Int? {
        (try await proxy.stats()["models"] as? [[String: Any]])?.first { $0["name"] as? String == model }?["cache_generation"] as? Int
    }

    func rerank(_ proxy: ProxyClient, model: String, docs: [String]) async throws -> ProxyClient.Reply {
        let reply = try await proxy.post("/v1/rerank", object: ["model": model, "query": "q", "documents": docs])
        expectExact(reply, query: "q", documents: docs)
        return reply
    }

    @Test(.enabled(if: sharedRedisURL != nil, "REDIS_URL is not set: start redis-server and export REDIS_URL (scripts/test.sh does)"))
    func aCLIPurgeStopsEveryReplicaServingTheModelFromMemoryWithinASecondOrTwo() async throws {
        let fake = FakeRerankBackend()
        let docs = documents(5, prefix: "cli-purge-\(UUID().uuidString.prefix(6))")
        try await fake.run { url in
            let shared = adminPolicy(.redis, backendURL: url)
            try await withProxy(shared) { a in
                try await withProxy(shared) { b in
                    // Both models scored once (on A), then memory or Redis hits on both replicas.
                    for model in ["test-model", "other-model"] {
                        _ = try await rerank(a, model: model, docs: docs)
                        try await until { (try? await self.rerank(b, model: model, docs: docs))?.header("X-Rerank-Cache") == "hits=5; coalesced=0; forwarded=0" }
                    }
                    #expect(try await rerank(a, model: "test-model", docs: docs).header("X-Rerank-Cache") == "hits=5; coalesced=0; forwarded=0")
                    #expect(fake.pairs == 10)

                    let admin = try CacheAdmin(policy: shared, logger: quietLogger)
                    let purged = try await admin.purge(model: "test-model")
                    admin.close()
                    #expect(purged.generation == 1)
                    #expect(purged.deleted == 5)
                    // Each replica re-reads the generations every second: neither serves the purged scores after that.
                    try await until(.seconds(3)) {
                        let onA = try? await self.generation(a, "test-model")
                        let onB = try? await self.generation(b, "test-model")
                        return onA == 1 && onB == 1
                    }
                    #expect(try await rerank(a, model: "test-model", docs: docs).header("X-Rerank-Cache") == "hits=0; coalesced=0; forwarded=5")
                    #expect(fake.pairs == 15)
                    // B finds A's fresh scores in Redis (generation 1), never its own generation-0 memory entries.
                    try await until { (try? await self.rerank(b, model: "test-model", docs: docs))?.header("X-Rerank-Cache") == "hits=5; coalesced=0; forwarded=0" }
                    #expect(fake.pairs == 15)
                    // The other model was not touched: still hits on both, no backend call.
                    for proxy in [a, b] {
                        #expect(try await rerank(proxy, model: "other-model", docs: docs).header("X-Rerank-Cache") == "hits=5; coalesced=0; forwarded=0")
                        #expect(try await generation(proxy, "other-model") == 0)
                    }
                    #expect(fake.pairs == 15)
                }
            }
        }
    }

    // MARK: - The binary

    struct Finished {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    func cache(_ arguments: [String]) async throws -> Finished {
        let binary = try #require(proxyBinary(), "rerank-proxy is not built next to the tests; run `swift build --build-tests` first")
        let base = temporaryDirectory()
        for name in [".stdout", ".stderr"] { _ = FileManager.default.createFile(atPath: base + name, contents: nil) }
        let child = Process()
        child.executableURL = URL(fileURLWithPath: binary)
        child.arguments = ["cache"] + arguments
        child.standardOutput = try #require(FileHandle(forWritingAtPath: base + ".stdout"))
        child.standardError = try #require(FileHandle(forWritingAtPath: base + ".stderr"))
        let exited = Mutex(false)
        child.terminationHandler = { _ in exited.withLock { $0 = true } }
        try child.run()
        defer { if child.isRunning { kill(child.processIdentifier, SIGKILL) } }
        try await until(.seconds(60)) { exited.withLock { $0 } }
        func read(_ name: String) -> String { (try? String(contentsOfFile: base + name, encoding: .utf8)) ?? "" }
        return Finished(status: child.terminationStatus, stdout: read(".stdout"), stderr: read(".stderr"))
    }

    /// A policy file in a new directory: SQLite at `directory/scores.sqlite` (not created), one model `test-model`.
    func sqlitePolicy() throws -> (directory: String, config: String) {
        let directory = temporaryDirectory()
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let config = directory + "/policy.yaml"
        try Data("""
            cache:
              store: sqlite
              sqlite:
                path: \(directory)/scores.sqlite
            models:
              - name: test-model
                backends:
                  - name: b
                    url: http://127.0.0.1:9
            """.utf8).write(to: URL(fileURLWithPath: config))
        return (directory, config)
    }

    @Test func theCommandsParseTheirFlagsAndRefuseMissingOrInvalidFiles() async throws {
        let (directory, config) = try sqlitePolicy()

        let missing = try await cache(["stats", "--config", directory + "/nope.yaml"])
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("error:") && missing.stderr.contains("nope.yaml"), "\(missing.stderr)")
        try Data("cache: [".utf8).write(to: URL(fileURLWithPath: directory + "/bad.yaml"))
        #expect(try await cache(["stats", "--config", directory + "/bad.yaml"]).status == 1)
        // ArgumentParser refuses a purge without --model (usage error, exit 64).
        let noModel = try await cache(["purge", "--config", config])
        #expect(noModel.status == 64, "\(noModel.stderr)")
        #expect(noModel.stderr.contains("--model"))

        // A mistyped SQLite path is an error, not a new empty cache; only import creates the file.
        let noFile = try await cache(["stats", "--config", config])
        #expect(noFile.status == 1)
        #expect(noFile.stderr.contains("no SQLite cache file"), "\(noFile.stderr)")
        #expect(!FileManager.default.fileExists(atPath: directory + "/scores.sqlite"))
        try SQLiteCacheStore(configuration: .init(path: directory + "/scores.sqlite"), logger: quietLogger).close()
        let unknown = try await cache(["purge", "--model", "gone", "--config", config])
        #expect(unknown.status == 1)
        #expect(unknown.stderr.contains("not in the policy"), "\(unknown.stderr)")

        let stats = try await cache(["stats", "--json", "--config", config])
        #expect(stats.status == 0, "\(stats.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(stats.stdout.utf8)) as? [String: Any]
        #expect(object?["store"] as? String == "sqlite")
        #expect(object?["entries"] as? Int == 0)
        let exported = try await cache(["export", "--out", directory + "/out.ndjson", "--config", config])
        #expect(exported.status == 0, "\(exported.stderr)")
        #expect(exported.stdout.contains("exported 0 scores"))
        #expect(try await cache(["import", directory + "/out.ndjson", "--config", config]).status == 0)
        let absent = try await cache(["import", directory + "/absent.ndjson", "--config", config])
        #expect(absent.status == 1)
        #expect(absent.stderr.contains("absent.ndjson"), "\(absent.stderr)")
    }

    /// `export --model` with a name the policy does not list (a typo) is an error, as for purge, not an empty export
    /// that reads as "this model has no cached scores"; `--force` exports it anyway.
    @Test func exportOfAModelNotInThePolicyIsRefusedUnlessForced() async throws {
        let (directory, config) = try sqlitePolicy()
        try SQLiteCacheStore(configuration: .init(path: directory + "/scores.sqlite"), logger: quietLogger).close()
        let out = directory + "/typo.ndjson"
        let typo = try await cache(["export", "--model", "test-modle", "--out", out, "--config", config])
        #expect(typo.status == 1, "\(typo.stdout)")
        #expect(typo.stderr.contains("\"test-modle\" is not in the policy") && typo.stderr.contains("test-model"), "\(typo.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out))
        let forced = try await cache(["export", "--model", "test-modle", "--force", "--out", out, "--config", config])
        #expect(forced.status == 0, "\(forced.stderr)")
        #expect(forced.stdout.contains("exported 0 scores"))
        let listed = try await cache(["export", "--model", "test-model", "--out", out, "--config", config])
        #expect(listed.status == 0, "\(listed.stderr)")
    }
}
