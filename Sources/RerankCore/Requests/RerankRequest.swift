/// Which wire format a request arrived in, and so which format its answer and errors take.
public enum Dialect: Sendable, Equatable {
    /// Cohere v1 / Jina / vLLM / Infinity (`/rerank`, `/v1/rerank`): documents echoed by default.
    case documents
    /// Cohere v2 (`/v2/rerank`): documents only when asked.
    case documentsV2
    /// TEI (`/rerank` with `texts`): a bare sorted array, `{error, error_type}` errors.
    case tei
}

/// The path a rerank request came in on; it only sets defaults.
public enum RerankRoute: Sendable {
    case rerank, v1, v2
}

/// Input limits from the policy's `server` section.
public struct RequestLimits: Sendable {
    public var maxDocuments: Int
    public init(maxDocuments: Int) { self.maxDocuments = maxDocuments }
}

/// A validated rerank request, independent of the dialect it came in.
public struct RerankRequest: Sendable {
    public var dialect: Dialect
    /// `nil` means the policy's default model.
    public var model: String?
    public var query: String
    /// The text scored for each input position.
    public var texts: [String]
    /// Object documents as sent, for echoing; `nil` where the input was a plain string.
    public var originals: [JSONValue?]
    /// How many results to return; `nil` means all.
    public var topN: Int?
    public var returnDocuments: Bool
    public var settings: ScoreSettings

    public init(
        dialect: Dialect,
        model: String?,
        query: String,
        texts: [String],
        originals: [JSONValue?]? = nil,
        topN: Int? = nil,
        returnDocuments: Bool = false,
        settings: ScoreSettings = .init()
    ) {
        self.dialect = dialect
        self.model = model
        self.query = query
        self.texts = texts
        self.originals = originals ?? Array(repeating: nil, count: texts.count)
        self.topN = topN
        self.returnDocuments = returnDocuments
        self.settings = settings
    }

    /// Validates a decoded body and picks its dialect: `texts` without `documents` on `/rerank` is TEI,
    /// `documents` is the documents dialect, anything else is refused.
    /// - Throws: ``RequestError`` describing the first problem found.
    public init(body: RerankBody, route: RerankRoute, limits: RequestLimits) throws(RequestError) {
        let isTEI = route == .rerank && body.texts != nil && body.documents == nil
        if body.texts != nil && body.documents != nil {
            throw .invalid("send either \"documents\" or \"texts\", not both", param: "documents")
        }
        guard let query = body.query else {
            throw .invalid("query is required", param: "query")
        }
        var direction: ScoreSettings.TruncationDirection?
        if let raw = body.truncationDirection {
            switch raw.lowercased() {
            case "left": direction = .left
            case "right": direction = .right
            default: throw .invalid("truncation_direction must be \"Left\" or \"Right\"", param: "truncation_direction")
            }
        }
        if let tokens = body.truncatePromptTokens, tokens < -1 {
            throw .invalid("truncate_prompt_tokens must be >= -1", param: "truncate_prompt_tokens")
        }
        let settings = ScoreSettings(
            rawScores: body.rawScores ?? (body.useActivation.map { !$0 } ?? false),
            truncate: body.truncate,
            truncationDirection: direction,
            truncatePromptTokens: body.truncatePromptTokens
        )

        if isTEI {
            let texts = body.texts ?? []
            guard !texts.isEmpty else { throw .empty("`texts` cannot be empty") }
            guard texts.count <= limits.maxDocuments else {
                throw .tooManyDocuments(count: texts.count, limit: limits.maxDocuments)
            }
            self.init(
                dialect: .tei, model: body.model, query: query, texts: texts,
                returnDocuments: body.returnText ?? false, settings: settings
            )
            return
        }

        guard let documents = body.documents else {
            throw .invalid("documents is required", param: "documents")
        }
        guard documents.count <= limits.maxDocuments else {
            throw .tooManyDocuments(count: documents.count, limit: limits.maxDocuments)
        }
        if let topN = body.topN, topN < 0 {
            throw .invalid("top_n must be >= 0 (0 or absent returns every document)", param: "top_n")
        }
        var texts: [String] = []
        var originals: [JSONValue?] = []
        texts.reserveCapacity(documents.count)
        originals.reserveCapacity(documents.count)
        for (index, document) in documents.enumerated() {
            texts.append(try document.scoredText(rankFields: body.rankFields, index: index))
            if case .object(let object) = document { originals.append(object) } else { originals.append(nil) }
        }
        let topN = body.topN.flatMap { $0 == 0 || $0 >= documents.count ? nil : $0 }
        self.init(
            dialect: route == .v2 ? .documentsV2 : .documents,
            model: body.model, query: query, texts: texts, originals: originals, topN: topN,
            returnDocuments: body.returnDocuments ?? (route != .v2),
            settings: settings
        )
    }
}
