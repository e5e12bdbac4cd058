/// The policy's `jobs:` section: batch requests (`/v1/rerank/batch`) and asynchronous jobs (`/v1/rerank/jobs`).
///
/// ```yaml
/// jobs:
///   ttl: 7d              # finished jobs (and their results) are readable this long, then swept
///   max_share: 0.5       # at most this share of a model's backend concurrency goes to jobs
///   max_pairs: 10000000  # a job with more pairs (documents summed over its requests) is refused with 413
///   max_batch_pairs: 20000   # the same for one synchronous /v1/rerank/batch call
///   max_body_bytes: 67108864   # a job's body (JSON or NDJSON), at most server.max_buffered_body_bytes
///   chunk_pairs: 2048    # a job is scored (and its progress saved) this many pairs at a time
///   concurrency: 1       # jobs run at once; the others wait queued
///   retries: 3           # rounds a job's failed requests are retried before the job fails
///   retry_backoff: 2s    # the first wait before a retry round; doubled each round
/// ```
public struct JobsConfig: Decodable, Sendable {
    public var ttl = DurationValue(.seconds(7 * 86400), text: "7d")
    public var maxShare = 0.5
    public var maxPairs = 10_000_000
    public var maxBatchPairs = 20_000
    public var maxBodyBytes = 67_108_864
    public var chunkPairs = 2048
    public var concurrency = 1
    public var retries = 3
    public var retryBackoff = DurationValue(.seconds(2), text: "2s")

    enum CodingKeys: String, CodingKey, CaseIterable {
        case ttl
        case maxShare = "max_share"
        case maxPairs = "max_pairs"
        case maxBatchPairs = "max_batch_pairs"
        case maxBodyBytes = "max_body_bytes"
        case chunkPairs = "chunk_pairs"
        case concurrency, retries
        case retryBackoff = "retry_backoff"
    }

    public init() {}

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        ttl = try c.decodeIfPresent(DurationValue.self, forKey: .ttl) ?? ttl
        maxShare = try c.decodeIfPresent(Double.self, forKey: .maxShare) ?? maxShare
        maxPairs = try c.decodeIfPresent(Int.self, forKey: .maxPairs) ?? maxPairs
        maxBatchPairs = try c.decodeIfPresent(Int.self, forKey: .maxBatchPairs) ?? maxBatchPairs
        maxBodyBytes = try c.decodeIfPresent(Int.self, forKey: .maxBodyBytes) ?? maxBodyBytes
        chunkPairs = try c.decodeIfPresent(Int.self, forKey: .chunkPairs) ?? chunkPairs
        concurrency = try c.decodeIfPresent(Int.self, forKey: .concurrency) ?? concurrency
        retries = try c.decodeIfPresent(Int.self, forKey: .retries) ?? retries
        retryBackoff = try c.decodeIfPresent(DurationValue.self, forKey: .retryBackoff) ?? retryBackoff
    }

    func validate() throws(ConfigError) {
        guard ttl.duration > .zero else { throw .invalid(path: "jobs.ttl", message: "must be positive") }
        // The sweep counts whole seconds (records keep seconds since 1970): 500ms would sweep at once.
        guard ttl.duration >= .seconds(1), ttl.duration.components.attoseconds == 0 else {
            throw .invalid(path: "jobs.ttl", message: "must be a whole number of seconds, not \(ttl)")
        }
        guard maxShare > 0, maxShare <= 1 else {
            throw .invalid(path: "jobs.max_share", message: "must be above 0 and at most 1 (a share of each model's backend concurrency)")
        }
        for (key, value) in [
            ("max_pairs", maxPairs), ("max_batch_pairs", maxBatchPairs), ("max_body_bytes", maxBodyBytes), ("chunk_pairs", chunkPairs),
            ("concurrency", concurrency),
        ] {
            guard value > 0 else { throw .invalid(path: "jobs.\(key)", message: "must be positive") }
        }
        guard retries >= 0 else { throw .invalid(path: "jobs.retries", message: "must be 0 or more") }
    }

    /// One line for `check-config`.
    var summary: String {
        "jobs: ttl=\(ttl)  max_share=\(maxShare)  max_pairs=\(maxPairs)  max_batch_pairs=\(maxBatchPairs)  max_body_bytes=\(maxBodyBytes)"
            + "  chunk_pairs=\(chunkPairs)  concurrency=\(concurrency)  retries=\(retries)  retry_backoff=\(retryBackoff)"
    }
}
