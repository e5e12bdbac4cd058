import Foundation
import RerankProxyApp
import Synchronization
import Testing

/// The `rerank-proxy rerank` binary in a child process against the in-process proxy: exit statuses, Ctrl-C,
/// plain progress lines when stderr is not a terminal.
@Suite struct RerankCommandTests {
    struct Finished {
        var status: Int32
        var stderr: String
    }

    /// Runs the binary with `arguments` after `rerank`; `interrupt`, when given, is polled and SIGINT sent once it holds.
    static func rerank(_ arguments: [String], interruptWhen interrupt: (@Sendable () -> Bool)? = nil) async throws -> Finished {
        let binary = try #require(proxyBinary(), "rerank-proxy is not built next to the tests; run `swift build --build-tests` first")
        let log = temporaryDirectory() + ".stderr"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let child = Process()
        child.executableURL = URL(fileURLWithPath: binary)
        child.arguments = ["rerank"] + arguments
        child.standardError = try #require(FileHandle(forWritingAtPath: log))
        child.standardOutput = FileHandle.nullDevice
        let exited = Mutex(false)
        child.terminationHandler = { _ in exited.withLock { $0 = true } }
        try child.run()
        defer { if child.isRunning { kill(child.processIdentifier, SIGKILL) } }
        if let interrupt {
            try await until(.seconds(30)) { interrupt() || exited.withLock { $0 } }
            kill(child.processIdentifier, SIGINT)
        }
        try await until(.seconds(60)) { exited.withLock { $0 } }
        return Finished(status: child.terminationStatus, stderr: (try? String(contentsOfFile: log, encoding: .utf8)) ?? "")
    }

    @Test func ctrlCLeavesAFileARerunFinishes() async throws {
        let directory = temporaryDirectory()
        let requests = RerankCLITests.requests(30, documentsPerLine: 2)
        let input = directory + "/queries.jsonl"
        let output = directory + "/results.jsonl"
        try RerankCLITests.write(requests, to: input)
        let backend = FakeRerankBackend()
        backend.delay(.milliseconds(100))
        try await backend.run { url in
            try await withProxy(RerankCLITests.policy(url)) { proxy in
                let arguments = ["--url", proxy.base, "--in", input, "--out", output, "--mode", "batch", "--batch-lines", "2", "--concurrency", "1"]
                let stopped = try await Self.rerank(arguments) { RerankCLITests.outputLines(output).count >= 2 }
                #expect(stopped.status == 130, "\(stopped.stderr)")
                #expect(stopped.stderr.contains("stopped: \(output) holds the lines done so far"))
                let kept = RerankCLITests.outputLines(output).count
                #expect(kept >= 2 && kept < 30)

                backend.delay(.zero)
                let finished = try await Self.rerank(arguments)
                #expect(finished.status == 0, "\(finished.stderr)")
                #expect(finished.stderr.contains("resuming \(output): \(kept) of 30 lines already written"))
                // Not a terminal: plain progress lines, no bar or escape codes.
                #expect(finished.stderr.contains("60/60 pairs (100.0%)"))
                #expect(!finished.stderr.contains("\u{1B}["))
            }
        }
        RerankCLITests.expectResults(at: output, for: requests)
    }

    @Test func badInputAndRefusalsExitNonZeroWithTheReason() async throws {
        let directory = temporaryDirectory()
        try RerankCLITests.write(RerankCLITests.requests(2), to: directory + "/queries.jsonl")
        try Data("{\"query\":\"q\",\"documents\":[\"a\"]}\n{\"query\":\"q\"}\n".utf8).write(to: URL(fileURLWithPath: directory + "/bad.jsonl"))
        try await FakeRerankBackend().run { url in
            try await withProxy(RerankCLITests.policy(url)) { proxy in
                let bad = try await Self.rerank(["--url", proxy.base, "--in", directory + "/bad.jsonl", "--out", directory + "/bad.out", "-q"])
                #expect(bad.status == 2)
                #expect(bad.stderr == "error: input line 2: documents is required\n")

                let refused = try await Self.rerank([
                    "--url", proxy.base, "--model", "nope", "--in", directory + "/queries.jsonl", "--out", directory + "/r.jsonl", "--mode", "batch", "-q",
                ])
                #expect(refused.status == 1)
                #expect(refused.stderr.hasPrefix("error: input lines 1-2: HTTP 404: model \"nope\""), "\(refused.stderr)")
            }
        }
    }
}
