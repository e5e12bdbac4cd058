// MARK: - Phase 2: decode the recorded fields and validate the request

extension BodyParser {
    /// Decodes the fields ``scan()`` recorded, validates them and picks the dialect: `texts` without
    /// `documents` on `/rerank` is TEI, `documents` is the documents dialect, anything else is refused.
    /// - Throws: ``RequestError`` describing the first problem found.
    mutating func build() throws(RequestError) -> RerankRequest {
        let model = try string(.model)
        let query = try queryString()
        try requireArray(.documents)
        try requireArray(.texts)
        let topN = try int(.topN)
        let returnDocuments = try bool(.returnDocuments)
        let returnText = try bool(.returnText)
        let rankFields = try stringArray(.rankFields)
        let rawScores = try bool(.rawScores)
        let useActivation = try bool(.useActivation)
        let truncate = try bool(.truncate)
        let truncationDirection = try string(.truncationDirection)
        let truncatePromptTokens = try int(.truncatePromptTokens)
        let maxTokensPerDoc = try int(.maxTokensPerDoc)

        if isPresent(.texts) && isPresent(.documents) {
            throw .invalid("send either \"documents\" or \"texts\", not both", param: "documents")
        }
        guard let query else {
            throw .invalid("query is required", param: "query")
        }
        var direction: ScoreSettings.TruncationDirection?
        if let raw = truncationDirection {
            switch raw.lowercased() {
            case "left": direction = .left
            case "right": direction = .right
            default: throw .invalid("truncation_direction must be \"Left\" or \"Right\"", param: "truncation_direction")
            }
        }
        if let tokens = truncatePromptTokens, tokens < -1 {
            throw .invalid("truncate_prompt_tokens must be >= -1", param: "truncate_prompt_tokens")
        }
        if let maxTokensPerDoc, maxTokensPerDoc < 1 {
            throw .invalid("max_tokens_per_doc must be a positive integer", param: "max_tokens_per_doc")
        }
        let settings = ScoreSettings(
            rawScores: rawScores ?? (useActivation.map { !$0 } ?? false),
            truncate: truncate,
            truncationDirection: direction,
            truncatePromptTokens: truncatePromptTokens
        )

        if route == .rerank && isPresent(.texts) {
            let texts = try stringArray(.texts) ?? []
            guard !texts.isEmpty else { throw .empty("`texts` cannot be empty") }
            guard texts.count <= limits.maxDocuments else {
                throw .tooManyDocuments(count: texts.count, limit: limits.maxDocuments)
            }
            return RerankRequest(
                dialect: .tei,
                model: model,
                query: query,
                texts: texts,
                returnDocuments: returnText ?? false,
                settings: settings,
                maxTokensPerDoc: maxTokensPerDoc
            )
        }

        guard isPresent(.documents) else {
            throw .invalid("documents is required", param: "documents")
        }
        guard documentCount <= limits.maxDocuments else {
            throw .tooManyDocuments(count: documentCount, limit: limits.maxDocuments)
        }
        if let topN, topN < 0 {
            throw .invalid("top_n must be >= 0 (0 or absent returns every document)", param: "top_n")
        }
        let (texts, originals) = try documents(rankFields: rankFields.flatMap { $0.isEmpty ? nil : $0 })
        return RerankRequest(
            dialect: route == .v2 ? .documentsV2 : .documents,
            model: model,
            query: query,
            texts: texts,
            originals: originals,
            topN: topN.flatMap { $0 == 0 || $0 >= texts.count ? nil : $0 },
            returnDocuments: returnDocuments ?? (route != .v2),
            settings: settings,
            maxTokensPerDoc: maxTokensPerDoc
        )
    }

    // MARK: - Typed field readers (`null` means absent)

    private func start(_ field: Field) -> Int? {
        isPresent(field) ? starts[field.rawValue] : nil
    }

    private mutating func string(_ field: Field) throws(RequestError) -> String? {
        guard let start = start(field) else { return nil }
        guard base[start] == UInt8(ascii: "\"") else { throw .invalid("\(field.name): expected a string", param: field.name) }
        var s = scanner(at: start)
        return s.readString(scratch: &scratch)
    }

    private mutating func queryString() throws(RequestError) -> String? {
        guard let start = start(.query) else { return nil }
        guard base[start] == UInt8(ascii: "\"") else {
            throw .invalid("query: must be a string (multimodal queries are not supported)", param: "query")
        }
        return try string(.query)
    }

    /// Accepts `true`/`false` and the strings `"true"`/`"false"` in any case (Xinference sends strings).
    private mutating func bool(_ field: Field) throws(RequestError) -> Bool? {
        guard let start = start(field) else { return nil }
        switch base[start] {
        case UInt8(ascii: "t"): return true
        case UInt8(ascii: "f"): return false
        case UInt8(ascii: "\""):
            var s = scanner(at: start)
            switch s.readString(scratch: &scratch).lowercased() {
            case "true": return true
            case "false": return false
            default: break
            }
        default: break
        }
        throw .invalid("\(field.name): expected a boolean", param: field.name)
    }

    /// An integral number that fits in `Int` (`3`, `3.0`).
    private func int(_ field: Field) throws(RequestError) -> Int? {
        guard let start = start(field) else { return nil }
        var s = scanner(at: start)
        guard let value = s.readInt() else { throw .invalid("\(field.name): expected an integer", param: field.name) }
        return value
    }

    private func requireArray(_ field: Field) throws(RequestError) {
        guard let start = start(field), base[start] != UInt8(ascii: "[") else { return }
        throw .invalid("\(field.name): expected an array", param: field.name)
    }

    private mutating func stringArray(_ field: Field) throws(RequestError) -> [String]? {
        guard let start = start(field) else { return nil }
        guard base[start] == UInt8(ascii: "[") else { throw .invalid("\(field.name): expected an array", param: field.name) }
        var s = scanner(at: start &+ 1)
        var strings: [String] = []
        s.skipWhitespace()
        guard s.peek() != UInt8(ascii: "]") else { return strings }
        while true {
            guard s.peek() == UInt8(ascii: "\"") else {
                throw .invalid("\(field.name)[\(strings.count)]: expected a string", param: field.name)
            }
            strings.append(s.readString(scratch: &scratch))
            s.skipWhitespace()
            guard s.peek() == UInt8(ascii: ",") else { return strings }
            s.index &+= 1
            s.skipWhitespace()
        }
    }
}
