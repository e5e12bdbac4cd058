/// One entry of a documents-dialect `documents` array: a string, or an object carrying `text` (or the
/// fields named by `rank_fields`). Objects are echoed back whole; only their text is scored.
public enum DocumentInput: Sendable, Equatable, Decodable {
    case text(String)
    case object(JSONValue)

    public init(from decoder: any Decoder) throws {
        let single = try decoder.singleValueContainer()
        if let text = try? single.decode(String.self) {
            self = .text(text)
            return
        }
        let value = try single.decode(JSONValue.self)
        guard case .object = value else {
            throw DecodingError.typeMismatch(
                String.self,
                .init(codingPath: decoder.codingPath, debugDescription: "a document must be a string or an object with \"text\"")
            )
        }
        self = .object(value)
    }

    /// The text that is scored: the string itself, the object's `text`, or `rank_fields` joined as
    /// `field: value` lines in the order given.
    /// - Throws: ``RequestError`` when an object has no usable text.
    func scoredText(rankFields: [String]?, index: Int) throws(RequestError) -> String {
        switch self {
        case .text(let text):
            return text
        case .object(let object):
            if let rankFields, !rankFields.isEmpty {
                var lines: [String] = []
                for field in rankFields {
                    guard let value = object[field]?.textValue else {
                        throw .invalid("documents[\(index)] has no string field \"\(field)\" named in rank_fields", param: "documents")
                    }
                    lines.append("\(field): \(value)")
                }
                return lines.joined(separator: "\n")
            }
            guard case .string(let text)? = object["text"] else {
                throw .invalid("documents[\(index)] must be a string or an object with a string \"text\"", param: "documents")
            }
            return text
        }
    }
}
