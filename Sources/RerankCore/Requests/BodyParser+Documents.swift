// MARK: - Documents

extension BodyParser {
    /// Decodes the `documents` array: each element's type is decided by its first byte, once.
    ///
    /// A string is scored as is. An object is kept byte for byte for echoing and scored by its `text`, or
    /// by the fields named in `rank_fields` joined as `field: value` lines in the order given (strings by
    /// value, numbers by their exact text, booleans as `true`/`false`).
    /// - Returns: the scored text and the original object (`nil` for strings) of each document.
    /// - Throws: ``RequestError`` naming `documents[i]` for an element that is neither, or has no usable text.
    mutating func documents(rankFields: [String]?) throws(RequestError) -> ([String], [RawJSON?]) {
        var texts: [String] = []
        var originals: [RawJSON?] = []
        texts.reserveCapacity(documentCount)
        originals.reserveCapacity(documentCount)
        let start = starts[Field.documents.rawValue]
        guard start >= 0 else { return (texts, originals) }
        let rankKeys = rankFields?.map { Array($0.utf8) } ?? []
        var slots = Array(repeating: -1, count: rankKeys.count)

        var s = scanner(at: start &+ 1)
        s.skipWhitespace()
        guard s.peek() != UInt8(ascii: "]") else { return (texts, originals) }
        while true {
            let index = texts.count
            switch s.peek() {
            case UInt8(ascii: "\""):
                texts.append(s.readString(scratch: &scratch))
                originals.append(nil)
            case UInt8(ascii: "{"):
                let objectStart = s.index
                let text = try objectText(&s, index: index, rankFields: rankFields, rankKeys: rankKeys, slots: &slots)
                texts.append(text)
                originals.append(RawJSON(unchecked: Array(UnsafeBufferPointer(start: base + objectStart, count: s.index &- objectStart))))
            default:
                throw .invalid("documents[\(index)]: a document must be a string or an object with \"text\"", param: "documents")
            }
            s.skipWhitespace()
            guard s.peek() == UInt8(ascii: ",") else { return (texts, originals) }
            s.index &+= 1
            s.skipWhitespace()
        }
    }

    /// Reads one object document's members in one pass and returns its scored text; `s` ends past the object.
    private mutating func objectText(
        _ s: inout JSONScanner,
        index: Int,
        rankFields: [String]?,
        rankKeys: [[UInt8]],
        slots: inout [Int]
    ) throws(RequestError) -> String {
        var text: String?
        for j in slots.indices { slots[j] = -1 }
        s.index &+= 1
        s.skipWhitespace()
        if s.peek() == UInt8(ascii: "}") {
            s.index &+= 1
        } else {
            while true {
                let key = s.readPlainKey()
                var decodedKey: [UInt8] = []
                if key == nil { decodedKey = Array(s.readString(scratch: &scratch).utf8) }
                s.skipWhitespace()
                if s.peek() == UInt8(ascii: ":") { s.index &+= 1 }
                s.skipWhitespace()
                if rankKeys.isEmpty {
                    if Self.keyEquals(key, decodedKey, "text") {
                        if s.peek() == UInt8(ascii: "\"") {
                            text = s.readString(scratch: &scratch)
                        } else {
                            text = nil  // the last "text" wins, and it is not a string
                            try skipMember(&s)
                        }
                    } else {
                        try skipMember(&s)
                    }
                } else {
                    for j in rankKeys.indices where Self.keyEquals(key, decodedKey, rankKeys[j]) { slots[j] = s.index }
                    try skipMember(&s)
                }
                s.skipWhitespace()
                let next = s.peek()
                guard next == UInt8(ascii: ",") else {
                    if next == UInt8(ascii: "}") { s.index &+= 1 }
                    break
                }
                s.index &+= 1
                s.skipWhitespace()
            }
        }

        guard let rankFields else {
            guard let text else {
                throw .invalid("documents[\(index)] must be a string or an object with a string \"text\"", param: "documents")
            }
            return text
        }
        var joined = ""
        for (j, field) in rankFields.enumerated() {
            guard slots[j] >= 0, let value = scalarText(at: slots[j]) else {
                throw .invalid("documents[\(index)] has no string field \"\(field)\" named in rank_fields", param: "documents")
            }
            if j > 0 { joined += "\n" }
            joined += field
            joined += ": "
            joined += value
        }
        return joined
    }

    /// Skips a member value that phase 1 already validated.
    @inline(__always) private func skipMember(_ s: inout JSONScanner) throws(RequestError) {
        do throws(JSONScanner.Error) {
            try s.skipValue(depth: 3)
        } catch {
            throw Self.describe(error, path: "documents", param: "documents")
        }
    }

    /// A `rank_fields` value as text: a string's value, a number's exact text, `true`/`false`; else `nil`.
    private mutating func scalarText(at start: Int) -> String? {
        var s = scanner(at: start)
        switch s.peek() {
        case UInt8(ascii: "\""): return s.readString(scratch: &scratch)
        case UInt8(ascii: "t"): return "true"
        case UInt8(ascii: "f"): return "false"
        default: return s.readNumberText().map { String(decoding: $0.text, as: UTF8.self) }
        }
    }

    @inline(__always) private static func keyEquals(_ plain: UnsafeBufferPointer<UInt8>?, _ decoded: [UInt8], _ name: StaticString) -> Bool {
        let bytes = UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount)
        guard let plain else { return decoded.elementsEqual(bytes) }
        return plain.count == bytes.count && plain.elementsEqual(bytes)
    }

    @inline(__always) private static func keyEquals(_ plain: UnsafeBufferPointer<UInt8>?, _ decoded: [UInt8], _ name: [UInt8]) -> Bool {
        guard let plain else { return decoded == name }
        return plain.count == name.count && plain.elementsEqual(name)
    }
}
