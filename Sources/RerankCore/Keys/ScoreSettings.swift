/// The request settings that change a score, and so belong in its cache key and in the backend call.
///
/// Anything that does not change the number (top_n, return_documents, ...) stays out, so that it cannot
/// split the cache; anything that does is both forwarded and keyed, so a cached score is always the score
/// the backend would give under these settings.
public struct ScoreSettings: Hashable, Sendable {
    public enum TruncationDirection: String, Sendable {
        case left = "Left"
        case right = "Right"
    }

    /// Raw logits instead of the model's activation (TEI/Infinity `raw_scores`, vLLM `use_activation:false`).
    public var rawScores: Bool
    /// TEI `truncate`; `nil` leaves the backend's default.
    public var truncate: Bool?
    /// TEI `truncation_direction`; `nil` leaves the backend's default.
    public var truncationDirection: TruncationDirection?
    /// vLLM `truncate_prompt_tokens`; `nil` leaves the backend's default.
    public var truncatePromptTokens: Int?

    public init(
        rawScores: Bool = false,
        truncate: Bool? = nil,
        truncationDirection: TruncationDirection? = nil,
        truncatePromptTokens: Int? = nil
    ) {
        self.rawScores = rawScores
        self.truncate = truncate
        self.truncationDirection = truncationDirection
        self.truncatePromptTokens = truncatePromptTokens
    }

    /// One string per setting, in a fixed order, each naming its field so that no two settings can alias.
    var canonicalFields: [String] {
        [
            rawScores ? "raw_scores=1" : "raw_scores=0",
            "truncate=" + (truncate.map { $0 ? "1" : "0" } ?? "-"),
            "truncation_direction=" + (truncationDirection?.rawValue ?? "-"),
            "truncate_prompt_tokens=" + (truncatePromptTokens.map(String.init) ?? "-"),
        ]
    }
}
