import Foundation
import RerankCore

/// The wire format a backend speaks.
public enum BackendAPI: String, Sendable, CaseIterable {
    /// `POST {url}/v1/rerank` with `documents` (vLLM, Jina, Cohere, Infinity).
    case cohere
    /// `POST {url}/rerank` with `texts` (HuggingFace TEI, the local ONNX worker).
    case tei
    /// `POST {url}/score` with equal-length `text_1` (queries) and `text_2` (documents) lists, answered by
    /// index (vLLM's pairwise score API), so pairs of different queries can share one call.
    case vllm

    public var defaultPath: String {
        switch self {
        case .cohere: "/v1/rerank"
        case .tei: "/rerank"
        case .vllm: "/score"
        }
    }

    /// The settings as this API forwards them, which are exactly the settings that get keyed: a setting the
    /// API has no field for is refused with a 400 when it would change the score, and dropped (not keyed)
    /// when it is what the backend does anyway.
    ///
    /// - cohere (vLLM, Infinity, Jina, Cohere): `raw_scores` (as `use_activation: false`) and
    ///   `truncate_prompt_tokens` are forwarded. `truncate: false` is vLLM's own behaviour and is dropped;
    ///   `truncate: true` is refused (send `truncate_prompt_tokens` instead). `truncation_direction` is dropped.
    /// - vllm (`/score`): like cohere: `raw_scores` is sent as `use_activation: false` (raw logits) and
    ///   `truncate_prompt_tokens` as is; `truncate: true` is refused, `truncate: false` and
    ///   `truncation_direction` are dropped.
    /// - tei: `raw_scores`, `truncate` and `truncation_direction` are forwarded (the direction is dropped with
    ///   `truncate: false`, where TEI ignores it); `truncate_prompt_tokens` is refused.
    /// - Cohere v2's `max_tokens_per_doc` is accepted and ignored by both: the cross-encoder truncates to its
    ///   own limit, and no backend API here has a per-document budget to map it to. It is not keyed.
    public func honoured(_ settings: ScoreSettings, maxTokensPerDoc: Int? = nil) throws(RequestError) -> ScoreSettings {
        var honoured = settings
        switch self {
        case .cohere, .vllm:
            if settings.truncate == true {
                throw .invalid(
                    "truncate: true cannot be honoured by this model's backends (api: \(rawValue)); send truncate_prompt_tokens instead",
                    param: "truncate"
                )
            }
            honoured.truncate = nil
            honoured.truncationDirection = nil
        case .tei:
            if settings.truncatePromptTokens != nil {
                throw .invalid(
                    "truncate_prompt_tokens cannot be honoured by this model's backends (api: tei); send truncate: true instead",
                    param: "truncate_prompt_tokens"
                )
            }
            if settings.truncate == false { honoured.truncationDirection = nil }
        }
        return honoured
    }

    /// The request body for one batch. The client's `top_n` is never sent: every score is needed.
    func encodeRequest(model: String, query: String, documents: [String], settings: ScoreSettings) -> [UInt8] {
        encodeRequest(model: model, queries: .one(query), documents: documents, settings: settings)
    }

    /// The queries of one call: one for every document, or one per document (`vllm` only).
    enum Queries {
        case one(String)
        case perDocument([String])

        func query(at index: Int) -> String {
            switch self {
            case .one(let query): query
            case .perDocument(let queries): queries[index]
            }
        }

        var bytes: Int {
            switch self {
            case .one(let query): query.utf8.count
            case .perDocument(let queries): queries.reduce(0) { $0 + $1.utf8.count + 4 }
            }
        }
    }

    /// The `/score` body for pairs of different queries: `text_1[i]` is scored against `text_2[i]`.
    func encodeRequest(model: String, queries: [String], documents: [String], settings: ScoreSettings) -> [UInt8] {
        precondition(self == .vllm, "only vLLM's /score carries pairs of different queries")
        precondition(queries.count == documents.count, "one query per document")
        return encodeRequest(model: model, queries: .perDocument(queries), documents: documents, settings: settings)
    }

    private func encodeRequest(model: String, queries: Queries, documents: [String], settings: ScoreSettings) -> [UInt8] {
        var w = JSONWriter(capacity: 64 + queries.bytes + documents.reduce(0) { $0 + $1.utf8.count + 4 })
        switch self {
        case .cohere:
            w.raw("{\"model\":")
            w.string(model)
            w.raw(",\"query\":")
            w.string(queries.query(at: 0))
            w.raw(",\"documents\":[")
        case .tei:
            w.raw("{\"query\":")
            w.string(queries.query(at: 0))
            w.raw(",\"texts\":[")
        case .vllm:
            // One query per document (N:N), not vLLM's 1:N broadcast: the same shape carries pairs of several queries.
            w.raw("{\"model\":")
            w.string(model)
            w.raw(",\"text_1\":[")
            for i in documents.indices {
                if i > 0 { w.byte(UInt8(ascii: ",")) }
                w.string(queries.query(at: i))
            }
            w.raw("],\"text_2\":[")
        }
        for (i, document) in documents.enumerated() {
            if i > 0 { w.byte(UInt8(ascii: ",")) }
            w.string(document)
        }
        w.byte(UInt8(ascii: "]"))
        switch self {
        case .cohere:
            w.raw(",\"return_documents\":false")
            if settings.rawScores { w.raw(",\"raw_scores\":true,\"use_activation\":false") }
            if let tokens = settings.truncatePromptTokens {
                w.raw(",\"truncate_prompt_tokens\":")
                w.int(tokens)
            }
        case .vllm:
            if settings.rawScores { w.raw(",\"use_activation\":false") }
            if let tokens = settings.truncatePromptTokens {
                w.raw(",\"truncate_prompt_tokens\":")
                w.int(tokens)
            }
        case .tei:
            w.raw(",\"raw_scores\":")
            w.bool(settings.rawScores)
            if let truncate = settings.truncate {
                w.raw(",\"truncate\":")
                w.bool(truncate)
            }
            if let direction = settings.truncationDirection {
                w.raw(",\"truncation_direction\":")
                w.string(direction.rawValue)
            }
        }
        w.byte(UInt8(ascii: "}"))
        return w.bytes
    }

    private struct CohereResponse: Decodable {
        struct Item: Decodable {
            var index: Int
            var relevance_score: Double
        }
        struct Usage: Decodable {
            var total_tokens: Int?
            var prompt_tokens: Int?
        }
        var results: [Item]
        var usage: Usage?
    }

    private struct ScoreResponse: Decodable {
        struct Item: Decodable {
            var index: Int
            var score: Double
        }
        var data: [Item]
        var usage: CohereResponse.Usage?
    }

    private struct TEIItem: Decodable {
        var index: Int
        var score: Double
    }

    /// Scores in the order the documents were sent, checked to cover every document exactly once.
    func decodeResponse(_ body: Data, count: Int) throws(DecodeFailure) -> BackendReply {
        var items: [(index: Int, score: Double)]
        var tokens = 0
        do {
            switch self {
            case .cohere:
                let response = try JSONDecoder().decode(CohereResponse.self, from: body)
                items = response.results.map { ($0.index, $0.relevance_score) }
                tokens = response.usage?.total_tokens ?? response.usage?.prompt_tokens ?? 0
            case .vllm:
                let response = try JSONDecoder().decode(ScoreResponse.self, from: body)
                items = response.data.map { ($0.index, $0.score) }
                tokens = response.usage?.total_tokens ?? response.usage?.prompt_tokens ?? 0
            case .tei:
                items = try JSONDecoder().decode([TEIItem].self, from: body).map { ($0.index, $0.score) }
            }
        } catch {
            throw DecodeFailure(reason: "\(error)")
        }
        guard items.count == count else {
            throw DecodeFailure(reason: "expected \(count) results, got \(items.count)")
        }
        var scores = [Double](repeating: .nan, count: count)
        for item in items {
            guard scores.indices.contains(item.index), scores[item.index].isNaN else {
                throw DecodeFailure(reason: "result index \(item.index) is out of range or repeated")
            }
            scores[item.index] = item.score
        }
        return BackendReply(scores: scores, tokens: tokens)
    }

    struct DecodeFailure: Error {
        var reason: String
    }
}
