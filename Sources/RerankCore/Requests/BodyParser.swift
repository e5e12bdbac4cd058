/// The state of one ``RequestParser/parse(_:route:limits:)-(UnsafeRawBufferPointer,_,_)`` call.
///
/// Phase 1 (``scan()``) validates the whole body and records where each known field's value starts;
/// phase 2 (``BodyParser/build()`` in BodyParser+Fields.swift) decodes those values and validates the request.
struct BodyParser {
    /// The top-level keys this proxy reads; everything else is validated and skipped.
    enum Field: Int {
        case model, query, documents, texts, topN, returnDocuments, returnText, rankFields, rawScores
        case useActivation, truncate, truncationDirection, truncatePromptTokens, maxTokensPerDoc

        static let count = 14

        var name: String {
            switch self {
            case .model: "model"
            case .query: "query"
            case .documents: "documents"
            case .texts: "texts"
            case .topN: "top_n"
            case .returnDocuments: "return_documents"
            case .returnText: "return_text"
            case .rankFields: "rank_fields"
            case .rawScores: "raw_scores"
            case .useActivation: "use_activation"
            case .truncate: "truncate"
            case .truncationDirection: "truncation_direction"
            case .truncatePromptTokens: "truncate_prompt_tokens"
            case .maxTokensPerDoc: "max_tokens_per_doc"
            }
        }

        init?(key: UnsafeBufferPointer<UInt8>) {
            for raw in 0..<Self.count {
                guard let field = Field(rawValue: raw) else { break }
                let name = field.name.utf8
                if name.count == key.count, name.elementsEqual(key) {
                    self = field
                    return
                }
            }
            return nil
        }
    }

    let base: UnsafePointer<UInt8>
    let count: Int
    let route: RerankRoute
    let limits: RequestLimits
    /// Where each field's (last) value starts, by `Field.rawValue`; -1 when absent.
    var starts: [Int]
    /// How many elements the last `documents` array had (counted in phase 1).
    var documentCount = 0
    /// Reused for strings with escapes.
    var scratch: [UInt8] = []

    init(base: UnsafePointer<UInt8>, count: Int, route: RerankRoute, limits: RequestLimits) {
        self.base = base
        self.count = count
        self.route = route
        self.limits = limits
        self.starts = Array(repeating: -1, count: Field.count)
    }

    func scanner(at index: Int) -> JSONScanner {
        JSONScanner(base: base, count: count, index: index)
    }

    /// Whether `field` was sent with a value other than `null`.
    func isPresent(_ field: Field) -> Bool {
        let start = starts[field.rawValue]
        return start >= 0 && start < count && base[start] != UInt8(ascii: "n")
    }

    /// The dialect a refusal is answered in, from what has been read so far.
    var failureDialect: Dialect {
        if route == .rerank && isPresent(.texts) && !isPresent(.documents) { return .tei }
        return route == .v2 ? .documentsV2 : .documents
    }

    mutating func parse() throws(RequestError) -> RerankRequest {
        try scan()
        return try build()
    }

    // MARK: - Phase 1: validate, record, count

    /// Validates the body as one JSON object and records where each known field's value starts.
    /// - Throws: ``RequestError`` for invalid JSON, a non-object, nesting too deep, or too many documents.
    mutating func scan() throws(RequestError) {
        var s = scanner(at: 0)
        s.skipWhitespace()
        guard s.peek() == UInt8(ascii: "{") else { throw notAnObject(s) }
        s.index &+= 1
        s.skipWhitespace()
        if s.peek() == UInt8(ascii: "}") {
            s.index &+= 1
        } else {
            while true {
                guard s.peek() == UInt8(ascii: "\"") else { throw Self.describe(s.fail("expected a string key"), path: nil) }
                let keyStart = s.index
                let escaped: Bool
                let keyEnd: Int
                do throws(JSONScanner.Error) {
                    escaped = try s.skipString()
                    keyEnd = s.index
                    try s.expect(UInt8(ascii: ":"), "expected ':'")
                } catch {
                    throw Self.describe(error, path: nil)
                }
                let field: Field?
                if escaped {
                    var name = keyName(at: keyStart)
                    field = name.withUTF8 { Field(key: $0) }
                } else {
                    field = Field(key: UnsafeBufferPointer(start: base + (keyStart &+ 1), count: keyEnd &- keyStart &- 2))
                }
                s.skipWhitespace()
                if let field { starts[field.rawValue] = s.index }
                if let field, s.peek() == UInt8(ascii: "["), field == .documents || (field == .texts && route == .rerank) {
                    let elements = try countElements(&s, field: field)
                    if field == .documents { documentCount = elements }
                } else {
                    do throws(JSONScanner.Error) {
                        try s.skipValue(depth: 1)
                    } catch {
                        let name = field?.name ?? keyName(at: keyStart)
                        throw Self.describe(error, path: name, param: name)
                    }
                }
                s.skipWhitespace()
                let next = s.peek()
                if next == UInt8(ascii: ",") {
                    s.index &+= 1
                    s.skipWhitespace()
                    continue
                }
                guard next == UInt8(ascii: "}") else { throw Self.describe(s.fail("expected ',' or '}'"), path: nil) }
                s.index &+= 1
                break
            }
        }
        s.skipWhitespace()
        guard s.index >= s.end else { throw Self.describe(s.fail("unexpected data after the JSON object"), path: nil) }
    }

    /// Skips a `documents`/`texts` array element by element, failing once there are more than allowed.
    /// - Returns: the number of elements.
    private func countElements(_ s: inout JSONScanner, field: Field) throws(RequestError) -> Int {
        s.index &+= 1
        s.skipWhitespace()
        if s.peek() == UInt8(ascii: "]") {
            s.index &+= 1
            return 0
        }
        var elements = 0
        while true {
            elements &+= 1
            if elements > limits.maxDocuments {
                throw .tooManyDocuments(count: elements, limit: limits.maxDocuments)
            }
            do throws(JSONScanner.Error) {
                try s.skipValue(depth: 2)
            } catch {
                throw Self.describe(error, path: "\(field.name)[\(elements - 1)]", param: field.name)
            }
            s.skipWhitespace()
            let next = s.peek()
            s.index &+= 1
            if next == UInt8(ascii: ",") { continue }
            if next == UInt8(ascii: "]") { return elements }
            s.index &-= 1
            throw Self.describe(s.fail("expected ',' or ']'"), path: field.name, param: field.name)
        }
    }

    /// The refusal for a body that is not an object: valid JSON of another type, or not JSON at all.
    private func notAnObject(_ start: JSONScanner) -> RequestError {
        var probe = start
        do throws(JSONScanner.Error) {
            try probe.skipValue(depth: 0)
            probe.skipWhitespace()
            guard probe.index >= probe.end else { return Self.describe(probe.fail("unexpected data after the JSON value"), path: nil) }
        } catch {
            return Self.describe(error, path: nil)
        }
        return .invalid("request body must be a JSON object")
    }

    /// The decoded text of the key whose opening quote is at `index`.
    func keyName(at index: Int) -> String {
        var s = scanner(at: index)
        var scratch: [UInt8] = []
        return s.readString(scratch: &scratch)
    }

    static func describe(_ error: JSONScanner.Error, path: String?, param: String? = nil) -> RequestError {
        switch error.problem {
        case .tooDeep:
            let message = "request body nests deeper than \(JSONScanner.maxDepth) levels"
            return .invalid(path.map { "\($0): \(message)" } ?? message, param: param)
        case .syntax(let reason):
            let message = "request body is not valid JSON: \(reason) at byte \(error.offset)"
            return .invalid(path.map { "\(message) (in \($0))" } ?? message, param: param)
        }
    }
}
