import Logging
import RerankCore

/// What a backend answered for one call: a score per document, in the order sent.
public struct BackendReply: Sendable, Equatable {
    public var scores: [Double]
    /// Tokens the backend reported (`usage.total_tokens`), 0 when it reports none.
    public var tokens: Int

    public init(scores: [Double], tokens: Int) {
        self.scores = scores
        self.tokens = tokens
    }
}

/// Something that scores (query, document) pairs: an HTTP reranker or a test fake.
///
/// Contract: the reply has exactly one score per document, in the order given, and the score is the
/// backend's own number for that pair under `settings`, unchanged. Implementations are called
/// concurrently and must not retry: ``BackendPool`` owns failover.
public protocol BackendClient: Sendable {
    /// The backend's name from the policy file, for stats, logs and error messages.
    var name: String { get }
    /// The longest one call may take, response body included (the pool also bounds each chunk as a whole).
    var timeout: Duration { get }
    func score(query: String, documents: [String], settings: ScoreSettings, logger: Logger) async throws(BackendError) -> BackendReply
    /// Whether one call can carry pairs of different queries (vLLM's `/score` with `text_1` and `text_2` lists),
    /// so the pool may pack misses of different requests into it. Default: `false`.
    var scoresMixedQueries: Bool { get }
    /// Scores `documents[i]` against `queries[i]` (equal lengths) in one call when ``scoresMixedQueries``; the
    /// reply has one score per pair, in the order given. The default makes one ``score(query:documents:settings:logger:)``
    /// call per run of equal queries, so it is only right for clients that never see mixed queries.
    func score(queries: [String], documents: [String], settings: ScoreSettings, logger: Logger) async throws(BackendError) -> BackendReply
}

extension BackendClient {
    public var timeout: Duration { .seconds(30) }

    public var scoresMixedQueries: Bool { false }

    public func score(queries: [String], documents: [String], settings: ScoreSettings, logger: Logger) async throws(BackendError) -> BackendReply {
        try await scoreEachQuery(queries: queries, documents: documents, settings: settings, logger: logger)
    }

    /// One ``score(query:documents:settings:logger:)`` call per run of equal queries, replies joined in order.
    public func scoreEachQuery(queries: [String], documents: [String], settings: ScoreSettings, logger: Logger) async throws(BackendError) -> BackendReply {
        precondition(queries.count == documents.count, "one query per document")
        var reply = BackendReply(scores: [], tokens: 0)
        var start = 0
        while start < documents.count {
            var end = start + 1
            while end < documents.count, queries[end] == queries[start] { end += 1 }
            let part = try await score(query: queries[start], documents: Array(documents[start..<end]), settings: settings, logger: logger)
            reply.scores += part.scores
            reply.tokens += part.tokens
            start = end
        }
        return reply
    }
}

/// Why a backend call failed. Every case names the backend.
public enum BackendError: Error, CustomStringConvertible, Sendable, Equatable {
    /// No answer within the backend's timeout.
    case timeout(backend: String)
    /// The connection could not be made or broke.
    case unreachable(backend: String, reason: String)
    /// The backend answered with an error status.
    case status(backend: String, code: Int, message: String)
    /// The backend answered 2xx with a body that is not a valid rerank answer.
    case invalidResponse(backend: String, reason: String)
    /// The deadline passed while the call waited for a local connection slot: the proxy's own congestion,
    /// which never counts against the backend's health.
    case localQueueTimeout(backend: String)
    /// The model's pool already holds more pairs than its in-flight capacity plus `max_queue`: refused at once,
    /// nothing sent (names the model, not a backend).
    case overloaded(model: String)
    /// The client's own deadline (`X-Request-Timeout`) passed before this chunk was sent, so it was not sent.
    case clientDeadline(model: String)

    /// Whether another backend may succeed where this one failed (a 4xx would fail everywhere).
    public var isRetryable: Bool {
        switch self {
        case .timeout, .unreachable, .invalidResponse: true
        case .localQueueTimeout, .overloaded, .clientDeadline: false
        case .status(_, let code, _): code >= 500 || code == 429 || code == 408
        }
    }

    /// Whether the backend refused the documents themselves (400, 413, 422: too long, bad input), which
    /// every backend would refuse again and which is the client's to fix.
    public var isRefusal: Bool {
        if case .status(_, let code, _) = self { return code == 400 || code == 413 || code == 422 }
        return false
    }

    /// The backend's name.
    public var backend: String {
        switch self {
        case .timeout(let b), .unreachable(let b, _), .status(let b, _, _), .invalidResponse(let b, _), .localQueueTimeout(let b), .overloaded(let b), .clientDeadline(let b): b
        }
    }

    public var description: String {
        switch self {
        case .timeout(let b): "backend \"\(b)\" timed out"
        case .unreachable(let b, let reason): "backend \"\(b)\" is unreachable: \(reason)"
        case .status(let b, let code, let message): "backend \"\(b)\" answered \(code): \(message)"
        case .invalidResponse(let b, let reason): "backend \"\(b)\" sent an invalid rerank response: \(reason)"
        case .localQueueTimeout(let b): "no connection to backend \"\(b)\" became free before the deadline (the proxy is overloaded)"
        case .clientDeadline(let m): "the request's X-Request-Timeout passed before model \"\(m)\" could score it"
        case .overloaded(let m): "model \"\(m)\" has more pairs queued than its max_queue allows; retry shortly"
        }
    }
}

/// A backend that can say whether it is up without scoring anything.
public protocol HealthProbing: Sendable {
    /// `true` when the backend's health endpoint answers 2xx within a short timeout.
    func probe(logger: Logger) async -> Bool
}

/// A backend that can report the most documents it accepts in one call (TEI's `max_client_batch_size`).
public protocol BatchLimitDiscovering: Sendable {
    /// The backend's own per-call limit, or `nil` when it cannot be read now.
    func discoverBatchLimit(logger: Logger) async -> Int?
}
