import RerankCore

/// Where rerank jobs, their input and their results live: SQLite tables beside the score cache, Redis keys
/// beside it, or (``MemoryJobStore``) this process only.
///
/// Contract:
/// - Every method may be called from any task concurrently and never blocks a concurrency thread.
/// - ``create(_:input:)`` stores the record and the input together: a job that exists can always be resumed. It
///   never replaces a job with the same id (an idempotent submission's id): it answers `false` and writes nothing.
/// - A finished job's record is never replaced by an unfinished one (``update(_:)``, ``save(results:record:)``):
///   a cancel, from any replica, wins over a runner that has not seen it yet.
/// - Results are saved per request position and read back in position order; saving a position twice keeps the last.
/// - ``update(_:)`` and ``save(results:record:)`` of a job that does not exist (swept) write nothing: a later job
///   with its id (an idempotent submission) starts clean.
/// - ``sweep(finishedBefore:)`` deletes finished jobs last updated before the cutoff, with their input and results;
///   queued and running jobs are never swept.
/// - Failures throw ``CacheError``; the caller decides (the HTTP API answers 503, the runner retries later).
public protocol JobStore: Sendable {
    /// `false` for a store that loses its jobs when the process ends.
    var isDurable: Bool { get }
    /// `false`: a job with this id exists already; nothing was written.
    @discardableResult
    func create(_ job: JobRecord, input: JobInput) async throws(CacheError) -> Bool
    func update(_ job: JobRecord) async throws(CacheError)
    func job(_ id: String) async throws(CacheError) -> JobRecord?
    func input(of id: String) async throws(CacheError) -> JobInput?
    /// Saves results (one rendered JSON value per request position) and the record, together.
    func save(results: [(index: Int, body: [UInt8])], record: JobRecord) async throws(CacheError)
    /// The positions whose results are saved.
    func savedPositions(of id: String) async throws(CacheError) -> Set<Int>
    /// Saved results from `offset`, at most `limit`, in position order.
    func results(of id: String, offset: Int, limit: Int) async throws(CacheError) -> [[UInt8]]
    /// The most recently created jobs first, at most `limit`.
    func recent(limit: Int) async throws(CacheError) -> [JobRecord]
    /// Jobs not finished (queued or running), oldest first: what a restarted proxy resumes.
    func unfinished() async throws(CacheError) -> [JobRecord]
    /// Takes (or renews) the right to run job `id` for `seconds`, as `owner` (one runner process); `false` while
    /// another owner holds it. Stores that one process owns (memory, an SQLite file) always grant it.
    func claim(_ id: String, owner: String, seconds: Int) async throws(CacheError) -> Bool
    /// Gives a claim back (graceful shutdown), so the next runner resumes the job at once.
    func release(_ id: String, owner: String) async
    /// Deletes finished jobs updated before `cutoff` (seconds since 1970); returns how many.
    @discardableResult
    func sweep(finishedBefore cutoff: Int64) async throws(CacheError) -> Int
}

extension JobStore {
    public func claim(_ id: String, owner: String, seconds: Int) async throws(CacheError) -> Bool { true }
    public func release(_ id: String, owner: String) async {}
}

/// A job's input as it was sent: a JSON batch body or NDJSON lines (parsed again when the job is resumed).
public struct JobInput: Sendable, Equatable {
    public var bytes: [UInt8]
    /// `true`: one request per line (`application/x-ndjson`).
    public var isLines: Bool

    public init(bytes: [UInt8], isLines: Bool) {
        self.bytes = bytes
        self.isLines = isLines
    }
}
