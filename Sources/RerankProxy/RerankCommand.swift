import ArgumentParser
import Foundation
import RerankClient

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `rerank-proxy rerank`: a large JSONL file of rerank requests through a running proxy, resumable.
struct Rerank: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Rerank a JSONL file of requests through a running proxy, one result line per input line; re-run to resume.",
        discussion: """
            Each input line is {"query": …, "documents": [...], "top_n"?: n, "model"?: name} (any other documents-dialect \
            field, e.g. return_documents or rank_fields, is forwarded as written). Each output line is the documents-dialect \
            response for the input line at the same position. A line's "model" overrides --model for that line.
            Re-running the same command keeps the complete lines already in --out and sends only the rest; in job mode \
            it re-attaches to the jobs recorded in <out>.job. Ctrl-C stops, leaving a file a re-run continues.
            """
    )

    @Option(name: .long, help: "Proxy base URL.")
    var url = "http://127.0.0.1:8080"

    @Option(name: .long, help: "Model (default: the proxy's first model).")
    var model: String?

    @Option(name: .customLong("in"), help: "Input JSONL, one request per line.")
    var input: String

    @Option(name: .customLong("out"), help: "Output JSONL, one response per input line (appended to on re-run).")
    var output: String

    @Option(name: .long, help: "job: submit jobs and poll them (resumable server-side, runs at job priority); batch: POST /v1/rerank/batch.")
    var mode: String = "job"

    @Option(name: [.long, .customLong("batch-lines")], help: "Lines per job or batch request (default: 1000 per job, 64 per batch).")
    var chunkLines: Int?

    @Option(name: .long, help: "Jobs or batch requests in flight at once.")
    var concurrency = 2

    @Option(name: .long, help: "API key, sent as Bearer (default: $RERANK_API_KEY).")
    var apiKey: String?

    @Option(name: .long, help: "Seconds between job status polls.")
    var pollInterval = 1.0

    @Option(name: .long, help: "Attempts per call on 429/502/503/504 or a connection error.")
    var retries = 8

    @Flag(name: .shortAndLong, help: "No progress output (errors are still shown).")
    var quiet = false

    func validate() throws {
        guard RerankRun.Mode(rawValue: mode) != nil else { throw ValidationError("--mode must be job or batch") }
        guard concurrency > 0, (chunkLines ?? 1) > 0, retries > 0, pollInterval > 0 else {
            throw ValidationError("--concurrency, --chunk-lines, --retries and --poll-interval must be positive")
        }
    }

    func run() async throws {
        var options = RerankRun.Options(url: url, model: model, input: input, output: output)
        options.mode = RerankRun.Mode(rawValue: mode) ?? .job
        options.chunkLines = chunkLines
        options.concurrency = concurrency
        options.apiKey = apiKey ?? ProcessInfo.processInfo.environment["RERANK_API_KEY"].flatMap { $0.isEmpty ? nil : $0 }
        options.pollInterval = .milliseconds(Int64(pollInterval * 1000))
        options.retry.maxAttempts = retries
        let style: ProgressReporter.Style = quiet ? .quiet : isatty(STDERR_FILENO) != 0 ? .bar : .plain
        let reporter = ProgressReporter(style: style) { FileHandle.standardError.write(Data($0.utf8)) }
        let run = RerankRun(options: options, reporter: reporter)

        // Ctrl-C cancels the run; the output keeps what was written and a re-run continues. A second Ctrl-C kills.
        let task = Task { try await run.run() }
        signal(SIGINT, SIG_IGN)
        let interrupt = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        interrupt.setEventHandler {
            task.cancel()
            signal(SIGINT, SIG_DFL)
        }
        interrupt.resume()
        defer { interrupt.cancel() }

        do {
            let summary = try await task.value
            if !quiet {
                let resumed = summary.resumedLines > 0 ? " (\(summary.resumedLines) kept from an earlier run)" : ""
                FileHandle.standardError.write(Data("done: \(summary.totalLines) lines in \(output)\(resumed)\n".utf8))
            }
        } catch is CancellationError {
            let jobs = options.mode == .job ? "; its jobs keep running on the proxy" : ""
            FileHandle.standardError.write(Data("stopped: \(output) holds the lines done so far\(jobs); run the same command again to continue\n".utf8))
            throw ExitCode(130)
        } catch let error as ClientError {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode(error.exitCode)
        }
    }
}
