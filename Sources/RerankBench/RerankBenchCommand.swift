import ArgumentParser
import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import NIOCore

@main
struct RerankBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rerank-bench",
        abstract: "Workloads, a simulated GPU reranker, a load driver and the benchmark suite for rerank-proxy.",
        subcommands: [WorkloadCommand.self, BackendCommand.self, RunCommand.self, SuiteCommand.self, HostileCommand.self]
    )
}

struct WorkloadOptions: ParsableArguments {
    @Option(help: "Seed: the same seed gives the same trace everywhere.") var seed: UInt64 = 42
    @Option(help: "Requests in the trace.") var requests = 1200
    @Option(help: "Distinct queries.") var queries = 2000
    @Option(help: "Zipf exponent of query popularity.") var zipf = 1.1
    @Option(help: "Documents in the corpus.") var corpus = 50_000

    var generator: TraceGenerator {
        TraceGenerator(seed: seed, requests: requests, queries: queries, zipfS: zipf, corpusSize: corpus)
    }
}

struct WorkloadCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "workload", abstract: "Write a seeded RAG rerank trace (JSON lines of query and document ids).")

    @OptionGroup var options: WorkloadOptions
    @Option(help: "Output file (JSON lines).") var out = "trace.jsonl"

    func run() throws {
        let trace = options.generator.generate()
        let encoder = JSONEncoder()
        var data = Data()
        for request in trace {
            data += try encoder.encode(request)
            data.append(0x0A)
        }
        try data.write(to: URL(fileURLWithPath: out))
        let pairs = trace.reduce(0) { $0 + $1.docs.count }
        print("wrote \(trace.count) requests, \(pairs) pairs, \(TraceGenerator.uniquePairs(trace)) unique pairs to \(out)")
    }
}

struct BackendCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "backend", abstract: "Serve a simulated GPU reranker (cohere, tei and vllm-score dialects).")

    @Option(help: "Listen port.") var port = 8001
    @Option(help: "Fixed latency per call, ms.") var baseMs = 8.0
    @Option(help: "Latency per pair, ms.") var perPairMs = 3.0
    @Option(help: "Batches processed at once.") var concurrency = 2

    func run() async throws {
        let gpu = SimulatedGPU(cost: .init(base: .microseconds(Int64(baseMs * 1000)), perPair: .microseconds(Int64(perPairMs * 1000)), concurrency: concurrency))
        print("simulated GPU: \(gpu.cost)")
        let router = Hummingbird.Router()
        gpu.addRoutes(to: router)
        let app = Hummingbird.Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)))
        try await app.runService()
    }
}

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Replay a trace or a fixed request against a URL, closed loop; the last line is one JSON object."
    )

    @Option(help: "Target URL including the path, e.g. http://127.0.0.1:8080/v1/rerank.") var url: String
    @Option(help: "Concurrent clients.") var concurrency = 8
    @Option(help: "Seconds to run (default: until the trace or --count ends).") var seconds: Double?
    @Option(help: "Requests to send.") var count: Int?
    @Option(help: "Trace file from `workload` (JSON lines).") var trace: String?
    @Option(help: "Corpus seed used to regenerate document text.") var seed: UInt64 = 42
    @Option(help: "Fixed request: number of documents.") var fixedDocs: Int?
    @Option(help: "Unique requests (every pair a miss): number of documents.") var uniqueDocs: Int?
    @Option(help: "Document size for --fixed-docs / --unique-docs, bytes.") var docBytes = 500
    @Option(help: "Body dialect: documents or tei.") var dialect = "documents"
    @Option(help: "Model name to send.") var model: String?
    @Option(help: "The simulated backend's base URL, to read the pairs it scored.") var backendStats: String?
    @Option(help: "The proxy's base URL, to read its hit ratio.") var proxyStats: String?
    @Flag(help: "GET instead of POST (driver ceiling against /healthz).") var get = false

    func run() async throws {
        let corpus = Corpus(seed: seed)
        let bodyDialect = RequestBodies.BodyDialect(rawValue: dialect) ?? .documents
        var uniquePairs: Int?
        let bodies: RequestBodies
        if let trace {
            let lines = try String(contentsOfFile: trace, encoding: .utf8).split(separator: "\n")
            let requests = try lines.map { try JSONDecoder().decode(TraceRequest.self, from: Data($0.utf8)) }
            uniquePairs = TraceGenerator.uniquePairs(requests)
            bodies = .trace(requests, corpus: corpus, dialect: bodyDialect, model: model)
        } else if let uniqueDocs {
            bodies = .unique(prefix: "unique \(UUID().uuidString)", documents: (0..<uniqueDocs).map { corpus.text($0, bytes: docBytes) }, dialect: bodyDialect, model: model)
        } else {
            bodies = .fixed(documents: fixedDocs ?? 20, bytes: docBytes, corpus: corpus, dialect: bodyDialect, model: model)
        }
        let client = BenchHTTP.makeClient(concurrency: concurrency)
        let before = await backendStats.asyncMap { await BenchHTTP.getJSON($0 + "/stats") }
        let driver = LoadDriver(
            url: url, concurrency: concurrency, count: count ?? bodies.count,
            duration: seconds.map { .milliseconds(Int64($0 * 1000)) } ?? (count == nil && bodies.count == nil ? .seconds(10) : nil),
            method: get ? .GET : .POST
        )
        let result = await driver.run(client: client) { bodies.body($0) }
        var report = RunReport(name: "run \(url)", result: result, concurrency: concurrency)
        if let backendStats, let after = await BenchHTTP.getJSON(backendStats + "/stats") {
            report.backend_pairs = (after["pairs"] as? Int ?? 0) - ((before ?? nil)?["pairs"] as? Int ?? 0)
            report.backend_calls = (after["calls"] as? Int ?? 0) - ((before ?? nil)?["calls"] as? Int ?? 0)
        }
        report.unique_pairs = uniquePairs
        if let proxyStats, let stats = await BenchHTTP.getJSON(proxyStats + "/v1/stats") {
            report.hit_ratio = stats["hit_ratio"] as? Double
        }
        try await client.shutdown()
        print(report.table)
        print(report.json)
    }
}

extension Optional {
    func asyncMap<T>(_ transform: (Wrapped) async -> T) async -> T? {
        guard let value = self else { return nil }
        return await transform(value)
    }
}
