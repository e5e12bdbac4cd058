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
    /// Object documents exactly as sent, for echoing; `nil` where the input was a plain string.
    public var originals: [RawJSON?]
    /// How many results to return; `nil` means all.
    public var topN: Int?
    public var returnDocuments: Bool
    public var settings: ScoreSettings
    /// Cohere v2 `max_tokens_per_doc` (positive); `nil` when not sent.
    public var maxTokensPerDoc: Int?

    public init(
        dialect: Dialect,
        model: String?,
        query: String,
        texts: [String],
        originals: [RawJSON?]? = nil,
        topN: Int? = nil,
        returnDocuments: Bool = false,
        settings: ScoreSettings = .init(),
        maxTokensPerDoc: Int? = nil
    ) {
        self.dialect = dialect
        self.model = model
        self.query = query
        self.texts = texts
        self.originals = originals ?? Array(repeating: nil, count: texts.count)
        self.topN = topN
        self.returnDocuments = returnDocuments
        self.settings = settings
        self.maxTokensPerDoc = maxTokensPerDoc
    }
}
