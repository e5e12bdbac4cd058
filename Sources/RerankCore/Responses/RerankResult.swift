/// The scores of one request, in input order, ready to be rendered in the request's dialect.
public struct RerankResult: Sendable {
    public var id: String
    public var model: String
    public var scores: [Double]
    /// Tokens the backends reported for the pairs this request forwarded (0 when everything was cached).
    public var promptTokens: Int
    /// Where each input position's score came from (empty when not tracked).
    public var sources: [RerankPlan.Source]
    /// What the request's unique pairs did: hits, coalesced, forwarded (the `X-Rerank-Cache` header).
    public var tally: RequestTally

    public init(id: String, model: String, scores: [Double], promptTokens: Int, sources: [RerankPlan.Source] = [], tally: RequestTally = .init()) {
        self.id = id
        self.model = model
        self.scores = scores
        self.promptTokens = promptTokens
        self.sources = sources
        self.tally = tally
    }

    /// `X-Rerank-Cache` header value: `hits=18; coalesced=0; forwarded=2`, counted over unique pairs.
    public var cacheHeader: String {
        "hits=\(tally.memoryHits + tally.storeHits); coalesced=\(tally.coalesced); forwarded=\(tally.forwarded)"
    }
}

extension RerankPlan.Source {
    /// The name `?explain=true` gives a result's `meta.cache`: `memory`, `store`, `coalesced` (another request's
    /// flight on this replica), `replica` (another replica's, through the shared store) or `backend` (scored now).
    public var explanation: StaticString {
        switch self {
        case .memory, .recheck: "memory"
        case .store: "store"
        case .coalesced: "coalesced"
        case .remote: "replica"
        case .forwarded: "backend"
        case .pending, .failed: "none"
        }
    }
}
