/// Why a client request was refused before anything was looked up or forwarded.
public enum RequestError: Error, Equatable, Sendable {
    /// Malformed or invalid input (400; TEI: 422 `Validation`).
    case invalid(String, param: String? = nil)
    /// TEI's `Empty`: no texts (400).
    case empty(String)
    /// More documents than the policy allows (400; TEI: 422 `Validation`).
    case tooManyDocuments(count: Int, limit: Int)
    /// The named model is not served (404).
    case unknownModel(String)
    /// The body is larger than `max_body_bytes` (413).
    case bodyTooLarge(limit: Int)
    /// The body is sent with a `Content-Encoding` other than `identity`, which the proxy does not decode (415).
    case unsupportedEncoding(String)

    public var message: String {
        switch self {
        case .invalid(let message, _), .empty(let message): message
        case .tooManyDocuments(let count, let limit): "batch size \(count) > maximum allowed batch size \(limit) (server.max_documents)"
        case .unknownModel(let name): "model \"\(name)\" is not served by this proxy"
        case .bodyTooLarge(let limit): "request body exceeds the limit of \(limit) bytes (server.max_body_bytes)"
        case .unsupportedEncoding(let encoding): "Content-Encoding \"\(encoding)\" is not supported; send the body uncompressed"
        }
    }
}
