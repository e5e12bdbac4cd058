/// Renders answers and errors in each client dialect (shapes: shared/docs/api-compat.md §7 and §2).
public enum ResponseRenderer {
    /// The universal documents-dialect body (Cohere v1/v2, Jina, vLLM, Infinity clients), or TEI's bare array.
    /// - Parameter explain: add `"meta":{"cache":"memory|store|coalesced|replica|backend"}` to every result.
    public static func render(_ result: RerankResult, for request: RerankRequest, explain: Bool = false) -> [UInt8] {
        let explain = explain && result.sources.count == result.scores.count
        let order = Ranking.order(scores: result.scores, topN: request.dialect == .tei ? nil : request.topN)
        var w = JSONWriter(capacity: 128 + order.count * (request.returnDocuments ? 96 : 48))
        if request.dialect == .tei {
            w.byte(UInt8(ascii: "["))
            for (n, index) in order.enumerated() {
                if n > 0 { w.byte(UInt8(ascii: ",")) }
                w.raw("{\"index\":")
                w.int(index)
                w.raw(",\"score\":")
                w.double(result.scores[index])
                if request.returnDocuments {
                    w.raw(",\"text\":")
                    w.string(request.texts[index])
                }
                if explain { w.explanation(result.sources[index]) }
                w.byte(UInt8(ascii: "}"))
            }
            w.byte(UInt8(ascii: "]"))
            return w.bytes
        }
        w.raw("{\"id\":")
        w.string(result.id)
        w.raw(",\"model\":")
        w.string(result.model)
        w.raw(",\"results\":[")
        for (n, index) in order.enumerated() {
            if n > 0 { w.byte(UInt8(ascii: ",")) }
            w.raw("{\"index\":")
            w.int(index)
            w.raw(",\"relevance_score\":")
            w.double(result.scores[index])
            if request.returnDocuments {
                w.raw(",\"document\":")
                if let original = request.originals[index] {
                    w.raw(original)
                } else {
                    w.raw("{\"text\":")
                    w.string(request.texts[index])
                    w.byte(UInt8(ascii: "}"))
                }
            }
            if explain { w.explanation(result.sources[index]) }
            w.byte(UInt8(ascii: "}"))
        }
        w.raw("],\"usage\":{\"prompt_tokens\":")
        w.int(result.promptTokens)
        w.raw(",\"total_tokens\":")
        w.int(result.promptTokens)
        w.raw("},\"meta\":{\"api_version\":{\"version\":")
        w.raw(request.dialect == .documentsV2 ? "\"2\"" : "\"1\"")
        w.raw("},\"billed_units\":{\"search_units\":1}}}")
        return w.bytes
    }

    /// An error body every documents-dialect client can read: `error.*` (vLLM/OpenAI/Infinity),
    /// `message` (Cohere) and `detail` (the Jina clients of LangChain, LlamaIndex and Haystack).
    public static func documentsError(message: String, type: String, param: String?, code: Int) -> [UInt8] {
        var w = JSONWriter(capacity: 128 + message.utf8.count * 3)
        w.raw("{\"error\":{\"message\":")
        w.string(message)
        w.raw(",\"type\":")
        w.string(type)
        w.raw(",\"param\":")
        if let param { w.string(param) } else { w.raw("null") }
        w.raw(",\"code\":")
        w.int(code)
        w.raw("},\"message\":")
        w.string(message)
        w.raw(",\"detail\":")
        w.string(message)
        w.byte(UInt8(ascii: "}"))
        return w.bytes
    }

    /// TEI's error body: `{"error": message, "error_type": "Validation"|"Empty"|...}`.
    public static func teiError(message: String, errorType: String) -> [UInt8] {
        var w = JSONWriter(capacity: 64 + message.utf8.count)
        w.raw("{\"error\":")
        w.string(message)
        w.raw(",\"error_type\":")
        w.string(errorType)
        w.byte(UInt8(ascii: "}"))
        return w.bytes
    }
}

extension JSONWriter {
    fileprivate mutating func explanation(_ source: RerankPlan.Source) {
        raw(",\"meta\":{\"cache\":\"")
        raw(source.explanation)
        raw("\"}")
    }
}
