/// Every field any supported client may send to a rerank path, decoded in one pass.
///
/// Which dialect the body speaks is decided afterwards from which fields are present (see
/// ``RerankRequest/init(body:route:limits:)``). Unknown keys are ignored, as vLLM and Cohere do.
public struct RerankBody: Decodable, Sendable {
    public var model: String?
    public var query: String?
    public var documents: [DocumentInput]?
    public var texts: [String]?
    public var topN: Int?
    public var returnDocuments: Bool?
    public var returnText: Bool?
    public var rankFields: [String]?
    public var rawScores: Bool?
    public var useActivation: Bool?
    public var truncate: Bool?
    public var truncationDirection: String?
    public var truncatePromptTokens: Int?

    enum CodingKeys: String, CodingKey {
        case model, query, documents, texts, truncate
        case topN = "top_n"
        case returnDocuments = "return_documents"
        case returnText = "return_text"
        case rankFields = "rank_fields"
        case rawScores = "raw_scores"
        case useActivation = "use_activation"
        case truncationDirection = "truncation_direction"
        case truncatePromptTokens = "truncate_prompt_tokens"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        model = try c.decodeIfPresent(String.self, forKey: .model)
        if let query = try? c.decodeIfPresent(String.self, forKey: .query) {
            self.query = query
        } else if c.contains(.query), try !c.decodeNil(forKey: .query) {
            throw DecodingError.typeMismatch(
                String.self,
                .init(codingPath: [CodingKeys.query], debugDescription: "must be a string (multimodal queries are not supported)")
            )
        }
        documents = try c.decodeIfPresent([DocumentInput].self, forKey: .documents)
        texts = try c.decodeIfPresent([String].self, forKey: .texts)
        topN = try c.decodeIfPresent(Int.self, forKey: .topN)
        returnDocuments = try Self.lenientBool(c, .returnDocuments)
        returnText = try Self.lenientBool(c, .returnText)
        rankFields = try c.decodeIfPresent([String].self, forKey: .rankFields)
        rawScores = try Self.lenientBool(c, .rawScores)
        useActivation = try Self.lenientBool(c, .useActivation)
        truncate = try Self.lenientBool(c, .truncate)
        truncationDirection = try c.decodeIfPresent(String.self, forKey: .truncationDirection)
        truncatePromptTokens = try c.decodeIfPresent(Int.self, forKey: .truncatePromptTokens)
    }

    /// Accepts `true`/`false` and the strings `"true"`/`"false"` (Xinference sends strings).
    private static func lenientBool(_ c: KeyedDecodingContainer<CodingKeys>, _ key: CodingKeys) throws -> Bool? {
        if let value = try? c.decodeIfPresent(Bool.self, forKey: key) { return value }
        switch try c.decodeIfPresent(String.self, forKey: key)?.lowercased() {
        case nil: return nil
        case "true": return true
        case "false": return false
        default:
            throw DecodingError.typeMismatch(Bool.self, .init(codingPath: [key], debugDescription: "expected a boolean"))
        }
    }
}
