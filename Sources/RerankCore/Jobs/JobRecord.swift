/// Where a rerank job is in its life.
public enum JobStatus: String, Codable, Sendable, Equatable {
    case queued, running, succeeded, failed, cancelled

    /// Whether the job will not change any more.
    public var isFinished: Bool {
        switch self {
        case .queued, .running: false
        case .succeeded, .failed, .cancelled: true
        }
    }
}

/// A request of a job that could not be scored, and why.
public struct JobFailure: Codable, Sendable, Equatable {
    /// Its position in the job's input (0-based).
    public var index: Int
    /// The HTTP status `/v1/rerank` would have answered for it.
    public var status: Int
    public var message: String

    public init(index: Int, status: Int, message: String) {
        self.index = index
        self.status = status
        self.message = message
    }
}

/// Everything a job's status answer says, as stored (SQLite row, Redis key, memory).
///
/// Pair counts are over each request's documents; `fromCache` and `scored` count the unique pairs of the
/// requests done so far by where their scores came from (a cache tier, or a backend / another request's flight).
public struct JobRecord: Codable, Sendable, Equatable {
    public var id: String
    public var model: String
    public var status: JobStatus
    /// Seconds since 1970.
    public var createdAt: Int64
    public var updatedAt: Int64
    public var requests: Int
    public var requestsDone = 0
    public var totalPairs: Int
    public var donePairs = 0
    public var fromCache = 0
    public var scored = 0
    /// Retry rounds spent on failed requests so far.
    public var retryRounds = 0
    public var failures: [JobFailure] = []
    /// The API key's client name that submitted the job (only it, and admin keys, may read or cancel it); `nil`: auth off.
    public var owner: String?
    /// The tenant whose isolated cache the job scores in (`auth.keys[].isolate_cache`); `nil`: shared.
    public var namespace: String?
    /// Why the job as a whole failed (its input no longer parses, say); failed requests are in ``failures``.
    public var error: String?
    /// SHA-256 (hex) of the submitted input, kept for jobs submitted with an `Idempotency-Key`: a retry with the
    /// same key must send the same body.
    public var inputSHA256: String?

    public init(id: String, model: String, createdAt: Int64, requests: Int, totalPairs: Int, owner: String? = nil, namespace: String? = nil) {
        self.owner = owner
        self.id = id
        self.model = model
        self.status = .queued
        self.createdAt = createdAt
        self.updatedAt = createdAt
        self.requests = requests
        self.totalPairs = totalPairs
        self.namespace = namespace
    }
}
