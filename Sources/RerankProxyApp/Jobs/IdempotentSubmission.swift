import Crypto
import RerankCache
import RerankCore

/// A job submission carrying `Idempotency-Key`: its job id is derived from the API key's client name and the
/// idempotency key, so a retried POST (a lost answer, a client timeout) names the same job and the store's
/// create-if-absent turns it into an answer about that job instead of a second job.
///
/// The key holds while the job exists: until it is swept, `jobs.ttl` after it finished. Another API key using
/// the same idempotency key gets its own job (the client name is part of the id).
/// ```swift
/// let submission = try IdempotentSubmission(header: "7c1e-retry-safe")     // nil without the header
/// submission?.jobID(owner: "team-a")     // "job-i-3f…" (always the same for this owner and key)
/// ```
struct IdempotentSubmission: Sendable {
    let key: String

    /// `nil` when the header is absent.
    /// - Throws: ``ProxyError/badIdempotencyKey`` for an empty or over-long key, or one with characters other
    ///   than visible ASCII.
    init?(header: String?) throws(ProxyError) {
        guard let header else { return nil }
        guard (1...255).contains(header.utf8.count), header.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
            throw .badIdempotencyKey
        }
        key = header
    }

    /// `job-i-` and 32 hex digits of SHA-256 over the owner's client name (empty without auth) and the key.
    func jobID(owner: String?) -> String {
        var hasher = SHA256()
        hasher.update(data: Array("rerank-proxy idempotent job\u{0}".utf8))
        hasher.update(data: Array((owner ?? "").utf8))
        hasher.update(data: [0])
        hasher.update(data: Array(key.utf8))
        return "job-i-" + Hex.bytes(hasher.finalize().prefix(16))
    }

    /// SHA-256 (hex) of a submission's input, so a retry with a different body is told apart. NDJSON names its
    /// model in the query (`?model=`), outside the bytes: `queryModel` is part of what was asked when it is given.
    static func digest(_ input: JobInput, queryModel: String? = nil) -> String {
        var hasher = SHA256()
        hasher.update(data: [input.isLines ? 1 : 0])
        hasher.update(data: input.bytes)
        if input.isLines, let queryModel, !queryModel.isEmpty {
            hasher.update(data: Array("\u{0}model=".utf8))
            hasher.update(data: Array(queryModel.utf8))
        }
        return Hex.bytes(hasher.finalize())
    }
}
