/// The scores of one request, in input order, ready to be rendered in the request's dialect.
public struct RerankResult: Sendable {
    public var id: String
    public var model: String
    public var scores: [Double]
    /// Tokens the backends reported for the pairs this request forwarded (0 when everything was cached).
    public var promptTokens: Int

    public init(id: String, model: String, scores: [Double], promptTokens: Int) {
        self.id = id
        self.model = model
        self.scores = scores
        self.promptTokens = promptTokens
    }
}
