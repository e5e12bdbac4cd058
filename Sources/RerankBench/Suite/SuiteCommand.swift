import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore

/// `rerank-bench suite`: every scenario in one run, direct and through the proxy on the same machine,
/// then `docs/benchmarks.md` and its SVG chart.
struct SuiteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "suite", abstract: "Run every benchmark scenario and write docs/benchmarks.md.")

    @Option(help: "rerank-proxy executable (default: next to this one).") var proxyBin: String?
    @Option(help: "Seconds per throughput run.") var seconds = 8
    @Option(help: "SQLite entries for the scale scenario.") var scaleEntries = 10_000_000
    @Option(help: "Markdown report to write (its sections after the generated ones, from `## 6.` on, are kept).") var out = "docs/benchmarks.md"
    @Option(help: "SVG chart to write.") var chart = "docs/hit-ratio.svg"
    @Flag(help: "A few seconds of scenarios 1, 4 and a small 3b with no thresholds and no files: keeps the tool from rotting.") var smoke = false
    @Option(help: "Only these scenarios, e.g. 1,3b (1 hit path, 2 miss path, 3 RAG trace, 3b two replicas on one Redis, 4 burst, 5 scale; prints results, writes no files).") var only: String?
    @Option(help: "API the proxy speaks to the simulated GPUs: cohere, tei or vllm (POST /score).") var api = "cohere"

    func run() async throws {
        let binary = proxyBin ?? URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent().appendingPathComponent("rerank-proxy").path
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw ValidationError("no rerank-proxy at \(binary); build it (swift build -c release) or pass --proxy-bin")
        }
        var suite = Suite(binary: binary, seconds: smoke ? 2 : seconds, smoke: smoke)
        if let only { suite.only = Set(only.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }) }
        suite.api = api
        let started = Date()
        try await suite.runAll(scaleEntries: smoke ? 0 : scaleEntries)
        let elapsed = Date().timeIntervalSince(started)
        print("suite finished in \(Int(elapsed)) s")
        if !smoke && only == nil {
            let report = BenchmarkReport(suite: suite, elapsed: elapsed)
            try FileManager.default.createDirectory(atPath: URL(fileURLWithPath: out).deletingLastPathComponent().path, withIntermediateDirectories: true)
            let existing = try? String(contentsOfFile: out, encoding: .utf8)
            try report.markdown(chartFile: URL(fileURLWithPath: chart).lastPathComponent, existing: existing).write(toFile: out, atomically: true, encoding: .utf8)
            try report.svg.write(toFile: chart, atomically: true, encoding: .utf8)
            print("wrote \(out) and \(chart)")
        }
        if !suite.failedChecks.isEmpty {
            print("checks that failed:\n" + suite.failedChecks.map { "- " + $0 }.joined(separator: "\n"))
        }
        print(#"{"scenarios":\#(suite.rows.count),"failed_checks":\#(suite.failedChecks.count),"seconds":\#(Int(elapsed))}"#)
    }
}
