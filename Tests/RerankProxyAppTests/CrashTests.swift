import Foundation
import GRDB
import RerankCore
import RerankProxyApp
import Synchronization
import Testing

/// `kill -9` under write load: the real `rerank-proxy serve` binary in a child process, writing scores from an
/// in-process fake backend into SQLite (with eviction running), is SIGKILLed mid-load. The file must pass
/// `PRAGMA integrity_check`, hold only exact scores of pairs that were sent, keep its `meta` count equal to
/// its rows, and serve every one of them exactly after a restart.
@Suite(.serialized) struct CrashTests {
    @Test func sigkillUnderWriteLoadLeavesAnIntactFileOfExactScores() async throws {
        let binary = try #require(proxyBinary(), "rerank-proxy is not built next to the tests; run `swift build --build-tests` first")
        let directory = temporaryDirectory()
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = directory + "/scores.sqlite"
        let fake = FakeRerankBackend()
        let sent = SentPairs()

        try await fake.run { url in
            let policy = """
                server: { host: 127.0.0.1, port: 0 }
                cache:
                  memory_entries: 0
                  ttl: 0
                  sqlite: { path: "\(path)", max_entries: 3000, flush_interval: 20ms }
                models:
                  - name: test-model
                    backends:
                      - { name: fake-0, url: "\(url)", timeout: 30s }
                """
            try policy.write(toFile: directory + "/policy.yaml", atomically: true, encoding: .utf8)
            let child = try startProxy(binary: binary, config: directory + "/policy.yaml", log: directory + "/proxy.log")
            defer { if child.isRunning { kill(child.processIdentifier, SIGKILL) } }
            let port = try await listeningPort(log: directory + "/proxy.log", child: child)
            let proxy = ProxyClient(base: "http://127.0.0.1:\(port)")

            // Four writers of fresh pairs until the proxy dies; every pair is recorded before it is sent.
            let load = Task {
                await withTaskGroup(of: Void.self) { group in
                    for writer in 0..<4 {
                        group.addTask {
                            var round = 0
                            while true {
                                let query = "crash query \(writer)"
                                let docs = (0..<50).map { "writer \(writer) round \(round) doc \($0)" }
                                let encoder = CacheKeyEncoder(model: "test-model", revision: "", settings: .init(), query: query)
                                sent.pairs.withLock { sent in for doc in docs { sent[encoder.key(document: doc)] = (query, doc) } }
                                guard (try? await proxy.post("/v1/rerank", object: ["query": query, "documents": docs], timeout: .seconds(10))) != nil
                                else { return }
                                round += 1
                            }
                        }
                    }
                }
            }
            // Past max_entries twice over, so deletes are committing too, then kill without warning.
            try await until(.seconds(120)) { fake.pairs >= 8000 }
            #expect(fake.pairs >= 8000, "the load did not get going; proxy log:\n\(tail(directory + "/proxy.log"))")
            kill(child.processIdentifier, SIGKILL)
            await load.value
            child.waitUntilExit()
            #expect(child.terminationReason == .uncaughtSignal)
        }

        // Opening the file replays the WAL as SQLite would after any crash.
        let expected = sent.pairs.withLock { $0 }
        let rows = try await DatabaseQueue(path: path).read { db -> Int in
            #expect(try String.fetchAll(db, sql: "PRAGMA integrity_check") == ["ok"])
            var rows = 0
            var unknown = 0
            var inexact = 0
            let cursor = try Row.fetchCursor(db, sql: "SELECT key, score FROM scores")
            while let row = try cursor.next() {
                rows += 1
                let blob: Data = row["key"]
                guard let key = CacheKey(bytes: blob), let pair = expected[key] else {
                    unknown += 1
                    continue
                }
                let score: Double = row["score"]
                if score.bitPattern != FakeRerankBackend.score(query: pair.query, document: pair.document).bitPattern { inexact += 1 }
            }
            #expect(unknown == 0)
            #expect(inexact == 0)
            #expect(try Int.fetchOne(db, sql: "SELECT value FROM meta WHERE name = 'entries'") == rows)
            return rows
        }
        #expect(rows > 0)

        // Restarted on the same file, the proxy serves every surviving score from SQLite, exactly.
        let byQuery = Dictionary(grouping: expected.values, by: \.query).mapValues { $0.map(\.document) }
        try await fake.run { url in
            try await withProxy(testPolicy(backends: [BackendConfig(name: "fake-0", url: url)], sqlitePath: path)) { proxy in
                #expect((try await proxy.stats()["tiers"] as? [String: [String: Any]])?["sqlite"]?["entries"] as? Int == rows)
                for (query, documents) in byQuery.sorted(by: { $0.key < $1.key }) {
                    for start in stride(from: 0, to: documents.count, by: 100) {
                        let chunk = Array(documents[start..<min(start + 100, documents.count)])
                        expectExact(try await proxy.post("/v1/rerank", object: ["query": query, "documents": chunk]), query: query, documents: chunk)
                    }
                }
                #expect((try await proxy.stats()["tiers"] as? [String: [String: Any]])?["sqlite"]?["hits"] as? Int == rows)
            }
        }
    }
}

/// Every pair sent to the child, by cache key.
private final class SentPairs: Sendable {
    let pairs = Mutex<[CacheKey: (query: String, document: String)]>([:])
}
