import Foundation
import Hummingbird
import Logging
import NIOCore
import RerankClient
import RerankCore
import RerankProxyApp
import ServiceLifecycle
import Synchronization
import Testing

/// `rerank-proxy rerank` (``RerankRun``) end to end: the real proxy over HTTP in front of the fake backend,
/// real files, both transports.
@Suite struct RerankCLITests {
    /// `count` requests with distinct documents (no pair shared between lines, so backend pair counts say
    /// exactly which lines were sent), every third with a `top_n`.
    static func requests(_ count: Int, documentsPerLine: Int = 4) -> [(query: String, documents: [String], topN: Int?)] {
        (0..<count).map { line in
            ("query \(line)", documents(documentsPerLine, prefix: "line \(line) passage"), line % 3 == 0 ? 2 : nil)
        }
    }

    static func write(_ requests: [(query: String, documents: [String], topN: Int?)], to path: String) throws {
        var text = ""
        for request in requests {
            var object: [String: Any] = ["query": request.query, "documents": request.documents]
            if let topN = request.topN { object["top_n"] = topN }
            text += jsonText(object) + "\n"
        }
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
    }

    /// Writes `requests` to `queries.jsonl` in a fresh directory; returns it and where results go.
    static func files(_ requests: [(query: String, documents: [String], topN: Int?)]) throws -> (input: String, output: String) {
        let directory = temporaryDirectory()
        try write(requests, to: directory + "/queries.jsonl")
        return (directory + "/queries.jsonl", directory + "/results.jsonl")
    }

    static func outputLines(_ path: String) -> [Data] {
        let data = FileManager.default.contents(atPath: path) ?? Data()
        return data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).dropLast().map { Data($0) }
    }

    /// Every output line is the exact answer for the input line at its position.
    static func expectResults(at path: String, for requests: [(query: String, documents: [String], topN: Int?)], sourceLocation: SourceLocation = #_sourceLocation) {
        let lines = outputLines(path)
        #expect(lines.count == requests.count, sourceLocation: sourceLocation)
        for (line, request) in zip(lines, requests) {
            expectExact(ProxyClient.Reply(status: 200, body: line), query: request.query, documents: request.documents, topN: request.topN, sourceLocation: sourceLocation)
        }
    }

    final class Notes: Sendable {
        let lines = Mutex<[String]>([])
        var all: [String] { lines.withLock { $0 } }
    }

    static func run(_ mode: RerankRun.Mode, url: String, input: String, output: String, notes: Notes = Notes(), configure: (inout RerankRun.Options) -> Void = { _ in }) async throws -> RerankRun.Summary {
        var options = RerankRun.Options(url: url, model: "test-model", input: input, output: output)
        options.mode = mode
        options.chunkLines = 5
        options.pollInterval = .milliseconds(20)
        options.retry = RetryPolicy(maxAttempts: 4, base: .milliseconds(10), cap: .milliseconds(50))
        configure(&options)
        let reporter = ProgressReporter(style: .plain, interval: .zero) { text in notes.lines.withLock { $0.append(text) } }
        return try await RerankRun(options: options, reporter: reporter).run()
    }

    static func policy(_ url: String) -> PolicyConfig {
        testPolicy(backends: [BackendConfig(name: "fake-0", url: url)])
    }

    // MARK: - Tests

    @Test(arguments: RerankRun.Mode.allCases)
    func everyLineGetsItsAnswerInInputOrder(mode: RerankRun.Mode) async throws {
        let directory = temporaryDirectory()
        let requests = Self.requests(23)
        try Self.write(requests, to: directory + "/queries.jsonl")
        let backend = FakeRerankBackend()
        let notes = Notes()
        let summary = try await backend.run { url in
            try await withProxy(Self.policy(url)) { proxy in
                try await Self.run(mode, url: proxy.base, input: directory + "/queries.jsonl", output: directory + "/results.jsonl", notes: notes)
            }
        }
        #expect(summary == .init(resumedLines: 0, writtenLines: 23, totalLines: 23))
        Self.expectResults(at: directory + "/results.jsonl", for: requests)
        #expect(backend.pairs == 23 * 4)
        // Progress went to the reporter, ending at every pair; the sidecar is gone once the output is complete.
        #expect(notes.all.last?.hasPrefix("92/92 pairs (100.0%)") == true)
        #expect(!FileManager.default.fileExists(atPath: directory + "/results.jsonl.job"))
    }

    @Test(arguments: RerankRun.Mode.allCases)
    func aRerunKeepsTheWrittenLinesAndSendsOnlyTheRest(mode: RerankRun.Mode) async throws {
        let requests = Self.requests(20)
        let (input, output) = try Self.files(requests)
        // A first run, then a crash: 7 complete lines and half of the 8th.
        try await FakeRerankBackend().run { url in
            try await withProxy(Self.policy(url)) { proxy in _ = try await Self.run(mode, url: proxy.base, input: input, output: output) }
        }
        let lines = Self.outputLines(output)
        try Data((lines[..<7].map { $0 + Data("\n".utf8) }.reduce(Data(), +)) + lines[7].prefix(lines[7].count / 2)).write(to: URL(fileURLWithPath: output))

        // A fresh proxy and cache: any line sent again would reach the backend.
        let backend = FakeRerankBackend()
        let notes = Notes()
        let summary = try await backend.run { url in
            try await withProxy(Self.policy(url)) { proxy in
                try await Self.run(mode, url: proxy.base, input: input, output: output, notes: notes)
            }
        }
        #expect(summary == .init(resumedLines: 7, writtenLines: 13, totalLines: 20))
        #expect(backend.pairs == 13 * 4)
        #expect(!backend.documents.contains { $0.hasPrefix("line 6 passage") })
        #expect(backend.documents.contains { $0.hasPrefix("line 7 passage") })
        Self.expectResults(at: output, for: requests)
        #expect(notes.all.contains { $0.contains("resuming") && $0.contains("7 of 20 lines") })
    }

    @Test func anInterruptedJobRunReattachesToItsJob() async throws {
        let requests = Self.requests(12)
        let (input, output) = try Self.files(requests)
        let backend = FakeRerankBackend()
        backend.stallBody(true)
        try await backend.run { url in
            try await withProxy(Self.policy(url)) { proxy in
                // One job for all lines; the backend holds its answers, so the run is stopped mid-job (Ctrl-C).
                let first = Task { try await Self.run(.job, url: proxy.base, input: input, output: output) { $0.chunkLines = 100 } }
                try await until { FileManager.default.fileExists(atPath: output + ".job") && backend.calls > 0 }
                first.cancel()
                await #expect(throws: CancellationError.self) { try await first.value }
                let sidecar = try JSONDecoder().decode(JobSidecar.self, from: Data(contentsOf: URL(fileURLWithPath: output + ".job")))
                #expect(sidecar.jobs.map(\.lines) == [0..<12])

                backend.stallBody(false)
                let notes = Notes()
                let summary = try await Self.run(.job, url: proxy.base, input: input, output: output, notes: notes) { $0.chunkLines = 100 }
                #expect(summary.writtenLines == 12)
                #expect(notes.all.contains { $0.contains("re-attached to job \(sidecar.jobs[0].id)") })
                // No second job: every pair was sent to the backend once.
                #expect(backend.pairs == 12 * 4)
            }
        }
        Self.expectResults(at: output, for: requests)
        #expect(!FileManager.default.fileExists(atPath: output + ".job"))
    }

    @Test(arguments: RerankRun.Mode.allCases)
    func aRefusedDocumentStopsTheRunAtItsLineKeepingTheLinesBefore(mode: RerankRun.Mode) async throws {
        var requests = Self.requests(6)
        requests[3].documents[1] = "refuse me: far too long"
        let (input, output) = try Self.files(requests)
        let backend = FakeRerankBackend()
        backend.refuse(prefix: "refuse me")
        try await backend.run { url in
            try await withProxy(Self.policy(url)) { proxy in
                await #expect {
                    try await Self.run(mode, url: proxy.base, input: input, output: output) { $0.chunkLines = mode == .job ? 100 : 2 }
                } throws: { error in
                    "\(error)".contains("input line 4") && "\(error)".contains("refused")
                }
            }
        }
        // Lines 1-3 are answered and kept; a re-run starts at line 4.
        Self.expectResults(at: output, for: Array(requests[..<3]))
    }

    @Test(arguments: RerankRun.Mode.allCases)
    func aLineNamingAModelIsSentToThatModel(mode: RerankRun.Mode) async throws {
        let directory = temporaryDirectory()
        let input = directory + "/queries.jsonl"
        let lines = ["test-model", "other-model", "other-model", nil, "other-model"].enumerated().map { index, model in
            var object: [String: Any] = ["query": "q\(index)", "documents": ["a\(index)", "b\(index)"]]
            if let model { object["model"] = model }
            return jsonText(object)
        }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: input))
        try await FakeRerankBackend().run { url in
            var policy = Self.policy(url)
            policy.models.append(ModelConfig(name: "other-model", backends: [BackendConfig(name: "fake-1", url: url)]))
            try await withProxy(policy) { proxy in
                _ = try await Self.run(mode, url: proxy.base, input: input, output: directory + "/results.jsonl")
            }
        }
        // The proxy refuses a batch whose request names another model, so each answer's model says where it went.
        let models = Self.outputLines(directory + "/results.jsonl").map { (try? JSONSerialization.jsonObject(with: $0) as? [String: Any])?["model"] as? String }
        #expect(models == ["test-model", "other-model", "other-model", "test-model", "other-model"])
    }

    @Test func aJobTheProxyNoLongerHasIsSentAgain() async throws {
        let requests = Self.requests(6)
        let (input, output) = try Self.files(requests)
        let backend = FakeRerankBackend()
        let notes = Notes()
        try await backend.run { url in
            try await withProxy(Self.policy(url)) { proxy in
                // A sidecar from an earlier run whose job has expired on the proxy.
                try JobSidecar(url: proxy.base, inputLines: 6, inputPairs: 24, jobs: [SubmittedJob(id: "job-expired", first: 0, count: 6)]).save(to: output + ".job")
                _ = try await Self.run(.job, url: proxy.base, input: input, output: output, notes: notes)
            }
        }
        #expect(notes.all.contains { $0.contains("job job-expired (input lines 1-6) is gone from the proxy; sending its lines again") })
        #expect(backend.pairs == 24)
        Self.expectResults(at: output, for: requests)
    }

    @Test(arguments: RerankRun.Mode.allCases)
    func aRequestTheProxyRefusesIsNamedByItsInputLine(mode: RerankRun.Mode) async throws {
        let directory = temporaryDirectory()
        let input = directory + "/queries.jsonl"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        // Valid for this client's parser, but over the proxy's server.max_documents (100).
        let lines = [jsonText(["query": "q", "documents": ["a"]]), jsonText(["query": "q", "documents": documents(101)])]
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: input))
        try await FakeRerankBackend().run { url in
            try await withProxy(Self.policy(url)) { proxy in
                await #expect {
                    try await Self.run(mode, url: proxy.base, input: input, output: directory + "/results.jsonl")
                } throws: { error in
                    guard case ClientError.http(400, let message, let context) = error else { return false }
                    return context == "input line 2" && message.contains("max_documents")
                }
            }
        }
    }

    @Test(arguments: RerankRun.Mode.allCases)
    func aRefusedRunSaysWhyAndWritesNothing(mode: RerankRun.Mode) async throws {
        let directory = temporaryDirectory()
        try Self.write(Self.requests(3), to: directory + "/queries.jsonl")
        let backend = FakeRerankBackend()
        _ = try await backend.run { url in
            try await withProxy(Self.policy(url)) { proxy in
                await #expect {
                    try await Self.run(mode, url: proxy.base, input: directory + "/queries.jsonl", output: directory + "/results.jsonl") { $0.model = "no-such-model" }
                } throws: { error in
                    guard case ClientError.http(let status, let message, _) = error else { return false }
                    return status == 404 && message.contains("no-such-model")
                }
            }
        }
        #expect(backend.pairs == 0)
        #expect(Self.outputLines(directory + "/results.jsonl").isEmpty)
    }

    @Test func theAPIKeyIsSentAsBearer() async throws {
        let directory = temporaryDirectory()
        let requests = Self.requests(4)
        try Self.write(requests, to: directory + "/queries.jsonl")
        try await FakeRerankBackend().run { url in
            var policy = Self.policy(url)
            policy.auth.keys = [.init(name: "batch-jobs", key: "sk-cli-0123456789")]
            try await withProxy(policy) { proxy in
                await #expect {
                    try await Self.run(.batch, url: proxy.base, input: directory + "/queries.jsonl", output: directory + "/results.jsonl")
                } throws: { error in
                    guard case ClientError.http(401, _, _) = error else { return false }
                    return true
                }
                _ = try await Self.run(.batch, url: proxy.base, input: directory + "/queries.jsonl", output: directory + "/results.jsonl") {
                    $0.apiKey = "sk-cli-0123456789"
                }
            }
        }
        Self.expectResults(at: directory + "/results.jsonl", for: requests)
    }

    @Test func overloadAnswersAreRetriedAfterRetryAfter() async throws {
        let directory = temporaryDirectory()
        let requests = Self.requests(3)
        try Self.write(requests, to: directory + "/queries.jsonl")
        // A proxy that sheds the first two batch requests (429, then 503), in front of the real one.
        let refusals = Mutex(0)
        try await FakeRerankBackend().run { url in
            try await withProxy(Self.policy(url)) { proxy in
                let router = Router()
                router.post("/v1/rerank/batch") { request, _ -> Response in
                    let count = refusals.withLock { count in
                        defer { count += 1 }
                        return count
                    }
                    if count < 2 {
                        return Response(status: count == 0 ? .tooManyRequests : .serviceUnavailable, headers: [.retryAfter: "0"])
                    }
                    let body = try await request.body.collect(upTo: 1 << 20)
                    let reply = try await proxy.post("/v1/rerank/batch", String(buffer: body))
                    return Response(status: .init(code: reply.status), body: .init(byteBuffer: ByteBuffer(bytes: reply.body)))
                }
                let notes = Notes()
                try await withFrontServer(router) { front in
                    _ = try await Self.run(.batch, url: front, input: directory + "/queries.jsonl", output: directory + "/results.jsonl", notes: notes) {
                        $0.chunkLines = 10
                    }
                }
                #expect(refusals.withLock { $0 } == 3)
                #expect(notes.all.contains { $0.contains("HTTP 429; retrying") })
                #expect(notes.all.contains { $0.contains("HTTP 503; retrying") })
            }
        }
        Self.expectResults(at: directory + "/results.jsonl", for: requests)
    }

    @Test func aJobSubmissionWhoseAnswerIsLostIsRetriedIntoTheSameJob() async throws {
        let directory = temporaryDirectory()
        let requests = Self.requests(3)
        try Self.write(requests, to: directory + "/queries.jsonl")
        // A front that passes the first submission to the proxy (the job is created) but answers the client 503,
        // as a load balancer whose upstream answer was lost would; then passes everything through.
        let keys = Mutex<[String]>([])
        let backend = FakeRerankBackend()
        try await backend.run { url in
            try await withProxy(Self.policy(url)) { proxy in
                let router = Router()
                router.post("/v1/rerank/jobs") { request, _ -> Response in
                    let key = request.headers.first { $0.name.canonicalName == "idempotency-key" }?.value ?? ""
                    let attempt = keys.withLock { keys in
                        keys.append(key)
                        return keys.count
                    }
                    let body = try await request.body.collect(upTo: 1 << 20)
                    let reply = try await proxy.post("/v1/rerank/jobs", String(buffer: body), headers: ["Idempotency-Key": key])
                    if attempt == 1 { return Response(status: .serviceUnavailable, headers: [.retryAfter: "0"]) }
                    return Response(status: .init(code: reply.status), body: .init(byteBuffer: ByteBuffer(bytes: reply.body)))
                }
                router.get("/v1/rerank/jobs/{id}") { request, context -> Response in
                    let id = try context.parameters.require("id")
                    let reply = try await proxy.get("/v1/rerank/jobs/\(id)?" + (request.uri.query ?? ""))
                    return Response(status: .init(code: reply.status), body: .init(byteBuffer: ByteBuffer(bytes: reply.body)))
                }
                try await withFrontServer(router) { front in
                    _ = try await Self.run(.job, url: front, input: directory + "/queries.jsonl", output: directory + "/results.jsonl") {
                        $0.chunkLines = 100
                    }
                }
                let sent = keys.withLock { $0 }
                #expect(sent.count == 2)
                #expect(!sent[0].isEmpty && sent[0] == sent[1])
                // One job on the proxy, and every pair scored once.
                #expect((try await proxy.get("/v1/rerank/jobs").object["data"] as? [Any])?.count == 1)
                #expect(backend.pairs == 3 * 4)
            }
        }
        Self.expectResults(at: directory + "/results.jsonl", for: requests)
    }
}

/// Runs `router` on a free loopback port for the duration of `body`.
func withFrontServer<T: Sendable>(_ router: Router<BasicRequestContext>, _ body: @Sendable (String) async throws -> T) async throws -> T {
    let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)), logger: quietLogger)
    return try await app.test(.live) { client in try await body("http://127.0.0.1:\(client.port!)") }
}
