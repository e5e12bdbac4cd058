/// Why a client request was refused before anything was looked up or forwarded.
public enum RequestError: Error, Equatable, Sendable {
    /// Malformed or invalid input (400; TEI: 422 `Validation`).
    case invalid(String, param: String? = nil)
    /// TEI's `Empty`: no texts (400).
    case empty(String)
    /// More documents than the policy allows (400; TEI: 422 `Validation`). The parser stops counting at
    /// the first document over the limit, so `count` may be `limit + 1` for a longer array.
    case tooManyDocuments(count: Int, limit: Int)
    /// The named model is not served (404).
    case unknownModel(String)
    /// The body is larger than `max_body_bytes` (413).
    case bodyTooLarge(limit: Int)
    /// A backend refused this document as bad input (400/413/422 from the backend): retrying cannot help
    /// (400; TEI: 422 `Validation`).
    case refusedByBackend(index: Int, backend: String, message: String)
    /// The body is sent with a `Content-Encoding` other than `identity`, which the proxy does not decode (415).
    case unsupportedEncoding(String)

    public var message: String {
        switch self {
        case .invalid(let message, _), .empty(let message): message
        case .tooManyDocuments(let count, let limit):
            count > limit + 1
                ? "batch size \(count) > maximum allowed batch size \(limit) (server.max_documents)"
                : "more than \(limit) documents: batch size > maximum allowed batch size \(limit) (server.max_documents)"
        case .unknownModel(let name): "model \"\(name)\" is not served by this proxy"
        case .bodyTooLarge(let limit): "request body exceeds the limit of \(limit) bytes (server.max_body_bytes)"
        case .refusedByBackend(let index, let backend, let message):
            "documents[\(index)] was refused by backend \"\(backend)\": \(message)"
        case .unsupportedEncoding(let encoding): "Content-Encoding \"\(encoding)\" is not supported; send the body uncompressed"
        }
    }
}
