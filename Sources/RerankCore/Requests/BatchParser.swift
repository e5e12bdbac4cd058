/// Parses the body of a batch of rerank requests: `{"model", "requests": [{query, documents, top_n?, …}, …]}`,
/// or NDJSON with one request object per line.
///
/// Each element is parsed by the same ``RequestParser`` as `/v1/rerank` (documents dialect, `max_documents`
/// per request), so a batch accepts exactly what the single endpoint accepts. The batch's `model` applies to
/// every request; a request may repeat it but not name another.
/// ```swift
/// let batch = try BatchParser.parse(bytes, limits: RequestLimits(maxDocuments: 1000))
/// ```
public enum BatchParser {
    /// A parsed batch: one model for all of its requests.
    public struct Batch: Sendable {
        /// `nil`: the policy's default model.
        public var model: String?
        public var requests: [RerankRequest]

        public init(model: String?, requests: [RerankRequest]) {
            self.model = model
            self.requests = requests
        }

        /// Pairs in the batch: documents summed over its requests.
        public var pairCount: Int { requests.reduce(0) { $0 + $1.texts.count } }
    }

    /// Parses `{"model": …, "requests": [ … ]}`.
    /// - Throws: ``RequestError`` naming the request (`requests[3]: …`) and what is wrong with it.
    /// A batch body (`lines: false`) or NDJSON, one request per line (`lines: true`, `model` from `?model=`).
    public static func parse(_ body: UnsafeRawBufferPointer, lines: Bool, model: String?, limits: RequestLimits) throws(RequestError) -> Batch {
        lines ? try parseLines(body, model: model, limits: limits) : try parse(body, limits: limits)
    }

    public static func parse(_ body: UnsafeRawBufferPointer, limits: RequestLimits) throws(RequestError) -> Batch {
        guard let raw = body.baseAddress, !body.isEmpty else { throw .invalid("request body is not valid JSON: the body is empty") }
        let base = raw.assumingMemoryBound(to: UInt8.self)
        var s = JSONScanner(base: base, count: body.count)
        var model: String?
        var elements: [Range<Int>] = []
        var sawRequests = false
        var scratch: [UInt8] = []
        s.skipWhitespace()
        guard s.peek() == UInt8(ascii: "{") else { throw .invalid("request body must be a JSON object with \"requests\"") }
        do throws(JSONScanner.Error) {
            s.index &+= 1
            s.skipWhitespace()
            var more = s.peek() != UInt8(ascii: "}")
            if !more { s.index &+= 1 }
            while more {
                guard s.peek() == UInt8(ascii: "\"") else { throw s.fail("expected a string key") }
                var keyScanner = s
                let key = keyScanner.readString(scratch: &scratch)
                _ = try s.skipString()
                try s.expect(UInt8(ascii: ":"), "expected ':'")
                s.skipWhitespace()
                switch key {
                case "model":
                    if s.peek() == UInt8(ascii: "\"") {
                        var copy = s
                        model = copy.readString(scratch: &scratch)
                    } else if !s.matches("null") {
                        throw s.fail("model must be a string")
                    }
                    try s.skipValue(depth: 1)
                case "requests":
                    sawRequests = true
                    elements = try arrayElements(&s)
                default:
                    try s.skipValue(depth: 1)
                }
                more = try another(&s, closing: UInt8(ascii: "}"))
            }
            s.skipWhitespace()
            guard s.index >= s.end else { throw s.fail("unexpected data after the JSON object") }
        } catch {
            throw BodyParser.describe(error, path: nil)
        }
        guard sawRequests else { throw .invalid("\"requests\" is required: an array of rerank requests", param: "requests") }
        let model_ = model.flatMap { $0.isEmpty ? nil : $0 }
        var requests: [RerankRequest] = []
        requests.reserveCapacity(elements.count)
        for (i, range) in elements.enumerated() {
            requests.append(try element(base: base + range.lowerBound, count: range.count, index: i, model: model_, limits: limits))
        }
        return Batch(model: model_, requests: requests)
    }

    /// Parses NDJSON: one request object per non-blank line; `model` from the lines (all the same) or `model`.
    /// - Throws: ``RequestError`` naming the request (`requests[3]` is the fourth non-blank line).
    public static func parseLines(_ body: UnsafeRawBufferPointer, model: String?, limits: RequestLimits) throws(RequestError) -> Batch {
        guard let raw = body.baseAddress, !body.isEmpty else { return Batch(model: model, requests: []) }
        let base = raw.assumingMemoryBound(to: UInt8.self)
        var requests: [RerankRequest] = []
        var chosen = model.flatMap { $0.isEmpty ? nil : $0 }
        var start = 0
        while start < body.count {
            var end = start
            while end < body.count, base[end] != UInt8(ascii: "\n") { end &+= 1 }
            let blank = (start..<end).allSatisfy { [0x20, 0x09, 0x0D].contains(base[$0]) }
            if !blank {
                let request = try element(base: base + start, count: end - start, index: requests.count, model: chosen, limits: limits)
                if chosen == nil { chosen = request.model }
                requests.append(request)
            }
            start = end + 1
        }
        return Batch(model: chosen, requests: requests)
    }

    /// The byte ranges of each element of the array at `s`, which is moved past it.
    private static func arrayElements(_ s: inout JSONScanner) throws(JSONScanner.Error) -> [Range<Int>] {
        guard s.peek() == UInt8(ascii: "[") else { throw s.fail("requests must be an array") }
        s.index &+= 1
        s.skipWhitespace()
        var ranges: [Range<Int>] = []
        if s.peek() == UInt8(ascii: "]") {
            s.index &+= 1
            return ranges
        }
        while true {
            let start = s.index
            try s.skipValue(depth: 2)
            ranges.append(start..<s.index)
            guard try another(&s, closing: UInt8(ascii: "]")) else { return ranges }
        }
    }

    /// Moves past the `,` before another member or element (`true`), or past the `closing` bracket (`false`).
    private static func another(_ s: inout JSONScanner, closing: UInt8) throws(JSONScanner.Error) -> Bool {
        s.skipWhitespace()
        let next = s.peek()
        if next == UInt8(ascii: ",") {
            s.index &+= 1
            s.skipWhitespace()
            return true
        }
        guard next == closing else { throw s.fail(closing == UInt8(ascii: "}") ? "expected ',' or '}'" : "expected ',' or ']'") }
        s.index &+= 1
        return false
    }

    /// One request of the batch, parsed as a `/v1/rerank` body; its errors are prefixed with `requests[i]: `.
    private static func element(base: UnsafePointer<UInt8>, count: Int, index: Int, model: String?, limits: RequestLimits) throws(RequestError) -> RerankRequest {
        var parser = BodyParser(base: base, count: count, route: .v1, limits: limits)
        var request: RerankRequest
        do {
            request = try parser.parse()
        } catch {
            throw .invalid("requests[\(index)]: \(error.message)", param: "requests[\(index)]")
        }
        let own = request.model.flatMap { $0.isEmpty ? nil : $0 }
        if let own, let model, own != model {
            throw .invalid("requests[\(index)]: model \"\(own)\" differs from the batch's model \"\(model)\"", param: "requests[\(index)].model")
        }
        request.model = model ?? own
        return request
    }
}
