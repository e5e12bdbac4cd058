import AsyncHTTPClient
import Foundation
import RerankCore

/// One `rerank-proxy rerank` run: reads a JSONL file of requests, sends the lines not yet in the output file
/// to the proxy (as jobs, or as batch requests), and appends one documents-dialect response per input line,
/// in input order, as results arrive.
///
/// Re-running the same run continues where the last one stopped: the output's valid prefix is kept and its
/// lines are not sent again, and in job mode the jobs recorded in `<out>.job` are re-attached to. Cancelling
/// the task (Ctrl-C) leaves a file a re-run continues.
/// ```swift
/// let run = RerankRun(options: .init(url: "http://127.0.0.1:8080", input: "q.jsonl", output: "r.jsonl"),
///                     reporter: ProgressReporter(style: .plain) { FileHandle.standardError.write(Data($0.utf8)) })
/// let summary = try await run.run()
/// ```
public struct RerankRun: Sendable {
    public enum Mode: String, Sendable, CaseIterable {
        /// `POST /v1/rerank/jobs`, poll, fetch pages: survives client and proxy restarts, runs at job priority.
        case job
        /// `POST /v1/rerank/batch` in chunks of `chunkLines`, `concurrency` at a time.
        case batch
    }

    public struct Options: Sendable {
        public var url: String
        public var model: String?
        public var input: String
        public var output: String
        public var mode: Mode = .job
        /// Lines per job or batch request; `nil`: 1,000 per job, 64 per batch.
        public var chunkLines: Int?
        /// Request-body bytes per job or batch (halved for a chunk the proxy refuses with 413).
        public var chunkBytes: Int = 4 << 20
        /// Jobs (or batch requests) in flight at once.
        public var concurrency: Int = 2
        public var apiKey: String?
        public var pollInterval: Duration = .seconds(1)
        /// Results fetched per `GET …/jobs/{id}?offset=&limit=`.
        public var pageSize: Int = 1000
        public var retry = RetryPolicy()
        public var timeout: Duration = .seconds(600)

        public init(url: String, model: String? = nil, input: String, output: String) {
            self.url = url
            self.model = model
            self.input = input
            self.output = output
        }

        var limits: ChunkPlan.Limits {
            ChunkPlan.Limits(maxLines: chunkLines ?? (mode == .job ? 1000 : 64), maxBytes: chunkBytes)
        }
    }

    /// What a run did.
    public struct Summary: Sendable, Equatable {
        /// Lines kept from an earlier run.
        public var resumedLines: Int
        /// Lines written by this run.
        public var writtenLines: Int
        public var totalLines: Int

        public init(resumedLines: Int, writtenLines: Int, totalLines: Int) {
            self.resumedLines = resumedLines
            self.writtenLines = writtenLines
            self.totalLines = totalLines
        }
    }

    public let options: Options
    let reporter: ProgressReporter
    let time: TimeSource
    let api: ProxyAPI

    public init(options: Options, reporter: ProgressReporter, time: TimeSource = .continuous, client: HTTPClient = .shared) {
        self.options = options
        self.reporter = reporter
        self.time = time
        self.api = ProxyAPI(
            url: options.url, apiKey: options.apiKey, retry: options.retry, timeout: options.timeout, time: time, client: client,
            onRetry: { [reporter] message in reporter.note(message) }
        )
    }

    /// Runs to the end of the input.
    /// - Throws: ``ClientError`` (the output keeps every line written), or `CancellationError` when cancelled
    ///   (likewise; in job mode the jobs keep running on the proxy and a re-run re-attaches to them).
    public func run() async throws -> Summary {
        let input: InputFile
        do {
            input = try InputFile(data: Data(contentsOf: URL(fileURLWithPath: options.input), options: .alwaysMapped))
        } catch let error as ClientError {
            throw error
        } catch {
            throw ClientError.input(line: 0, message: "cannot read \(options.input): \(error.localizedDescription)")
        }
        let out = try DurableFile(path: options.output)
        let resumed = out.lines
        guard resumed <= input.lines.count else {
            throw ClientError.output(
                "\(options.output) already has \(resumed) result lines but \(options.input) has \(input.lines.count) requests: it is not this input's output (use another --out)"
            )
        }
        var progress = Written(input: input, lines: resumed)
        if resumed > 0 {
            reporter.note("resuming \(options.output): \(resumed) of \(input.lines.count) lines already written")
        }
        reporter.start(total: input.totalPairs, alreadyDone: progress.pairs)
        do {
            // Redraw every second even while nothing finishes (a long batch), so the rate and ETA stay honest.
            let ticker = Task { [reporter, time] in
                while !Task.isCancelled {
                    try await time.sleep(for: .seconds(1))
                    reporter.tick()
                }
            }
            defer { ticker.cancel() }
            switch options.mode {
            case .batch: try await runBatches(input: input, out: out, progress: &progress)
            case .job: try await runJobs(input: input, out: out, progress: &progress)
            }
            try out.close()
        } catch {
            try? out.close()
            reporter.finish()
            throw error
        }
        reporter.finish()
        if options.mode == .job { try? FileManager.default.removeItem(atPath: sidecarPath) }
        return Summary(resumedLines: resumed, writtenLines: out.lines - resumed, totalLines: input.lines.count)
    }

    /// Lines written so far and their pairs, kept together.
    struct Written {
        let input: InputFile
        var lines: Int
        var pairs: Int

        init(input: InputFile, lines: Int) {
            self.input = input
            self.lines = lines
            self.pairs = input.pairs(in: 0..<lines)
        }

        mutating func write(_ results: some Collection<RawJSON>, to out: DurableFile) throws(ClientError) {
            for result in results {
                try out.append(line: result.bytes)
                pairs += input.lines[lines].pairs
                lines += 1
            }
        }
    }

    static func context(_ range: Range<Int>) -> String {
        range.count == 1 ? "input line \(range.lowerBound + 1)" : "input lines \(range.lowerBound + 1)-\(range.upperBound)"
    }

    func model(of range: Range<Int>, in input: InputFile) -> String? {
        input.lines[range.lowerBound].model ?? options.model
    }

    // MARK: - Batch mode

    private func runBatches(input: InputFile, out: DurableFile, progress: inout Written) async throws {
        let chunks = ChunkPlan.chunks(of: input.lines, in: progress.lines..<input.lines.count, limits: options.limits)
        let concurrency = max(1, options.concurrency)
        try await withThrowingTaskGroup(of: (Int, Answered).self) { group in
            var next = 0
            var running = 0
            var writeIndex = 0
            var ready: [Int: Answered] = [:]
            while writeIndex < chunks.count {
                // Keep `concurrency` requests in flight, holding at most 4 windows of finished chunks ahead of the writer.
                while running < concurrency, next < chunks.count, next < writeIndex + 4 * concurrency {
                    let index = next
                    group.addTask { (index, try await self.batch(chunks[index], input: input)) }
                    next += 1
                    running += 1
                }
                guard let finished = try await group.next() else { break }
                let (index, answered) = finished
                running -= 1
                ready[index] = answered
                while let answered = ready.removeValue(forKey: writeIndex) {
                    try progress.write(answered.results, to: out)
                    try out.sync()
                    writeIndex += 1
                    reporter.update(done: progress.pairs)
                    if let error = answered.error { throw error }
                }
            }
        }
    }

    /// A chunk's answers, in order: all of them, or those before the request the proxy refused and why.
    struct Answered: Sendable {
        var results: [RawJSON]
        var error: ClientError?
    }

    /// One batch request. A chunk refused as too large (413) is split in halves; one refused because of one of
    /// its requests (`requests[i]: …`) is answered up to that request (sent again: its pairs are cached now).
    private func batch(_ range: Range<Int>, input: InputFile) async throws -> Answered {
        do {
            let results = try await api.batch(model: model(of: range, in: input), lines: range.map(input.bytes(ofLine:)), context: Self.context(range))
            return Answered(results: results)
        } catch ClientError.http(413, _, _) where range.count > 1 {
            let middle = range.lowerBound + range.count / 2
            let first = try await batch(range.lowerBound..<middle, input: input)
            guard first.error == nil else { return first }
            let second = try await batch(middle..<range.upperBound, input: input)
            return Answered(results: first.results + second.results, error: second.error)
        } catch ClientError.http(let status, let message, let context) {
            let refused = Self.request(namedIn: message).map { range.lowerBound + $0 }
            let error = ClientError.http(status: status, message: message, context: refused.map { Self.context($0..<$0 + 1) } ?? context)
            guard let refused, refused > range.lowerBound, refused < range.upperBound else { throw error }
            let before = try await batch(range.lowerBound..<refused, input: input)
            return Answered(results: before.results, error: before.error ?? error)
        }
    }

    /// `3` for a proxy message starting `requests[3]: …`.
    static func request(namedIn message: String) -> Int? {
        guard message.hasPrefix("requests["), let close = message.firstIndex(of: "]") else { return nil }
        return Int(message[message.index(message.startIndex, offsetBy: 9)..<close])
    }
}
