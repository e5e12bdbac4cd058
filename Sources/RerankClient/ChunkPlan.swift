/// How the input lines still to do are cut into batch requests or jobs: pure.
public enum ChunkPlan {
    /// The most one chunk (one batch request or one job) may hold.
    public struct Limits: Sendable, Equatable {
        public var maxLines: Int
        /// Request-body bytes (the server's `max_body_bytes` applies per request and per job).
        public var maxBytes: Int
        public var maxPairs: Int

        public init(maxLines: Int, maxBytes: Int = 4 << 20, maxPairs: Int = .max) {
            self.maxLines = max(1, maxLines)
            self.maxBytes = maxBytes
            self.maxPairs = maxPairs
        }
    }

    /// Cuts lines `range` into consecutive chunks within `limits`; a chunk never mixes lines for different
    /// models (a line's own `"model"`, else the run's). A single line over a limit is a chunk by itself (the
    /// server then says what is wrong with it).
    public static func chunks(of lines: [InputFile.Line], in range: Range<Int>, limits: Limits) -> [Range<Int>] {
        var chunks: [Range<Int>] = []
        var start = range.lowerBound
        var bytes = 0
        var pairs = 0
        for index in range {
            let line = lines[index]
            let lineBytes = line.range.count + 1
            let full =
                index > start
                && (index - start >= limits.maxLines || bytes + lineBytes > limits.maxBytes || pairs + line.pairs > limits.maxPairs
                    || line.model != lines[start].model)
            if full {
                chunks.append(start..<index)
                start = index
                bytes = 0
                pairs = 0
            }
            bytes += lineBytes
            pairs += line.pairs
        }
        if start < range.upperBound { chunks.append(start..<range.upperBound) }
        return chunks
    }

    /// One step of a (re-)run.
    public enum Segment: Sendable, Equatable {
        /// Re-attach to a job this output file already started; its first `skip` lines are already written.
        case attach(SubmittedJob, skip: Int)
        /// Lines nobody has started: submit them (in chunks).
        case submit(Range<Int>)
    }

    /// What a run does, given that the output file holds `done` lines of `lineCount` and the sidecar
    /// remembers `jobs`: recorded jobs that still cover lines not written are re-attached (from the first
    /// unwritten line), the gaps between them are submitted afresh, everything else is dropped.
    public static func segments(done: Int, lineCount: Int, jobs: [SubmittedJob]) -> [Segment] {
        var segments: [Segment] = []
        var cursor = done
        for job in jobs.sorted(by: { $0.first < $1.first }) where job.count > 0 && job.end <= lineCount && job.end > cursor {
            if job.first > cursor {
                segments.append(.submit(cursor..<job.first))
                segments.append(.attach(job, skip: 0))
            } else {
                segments.append(.attach(job, skip: cursor - job.first))
            }
            cursor = job.end
        }
        if cursor < lineCount { segments.append(.submit(cursor..<lineCount)) }
        return segments
    }
}

/// A job the proxy is running for input lines `first ..< first + count`.
public struct SubmittedJob: Codable, Sendable, Equatable {
    public var id: String
    public var first: Int
    public var count: Int

    public init(id: String, first: Int, count: Int) {
        self.id = id
        self.first = first
        self.count = count
    }

    public var end: Int { first + count }
    public var lines: Range<Int> { first..<end }
}
