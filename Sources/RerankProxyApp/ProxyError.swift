import Hummingbird
import NIOCore
import RerankBackends
import RerankCore

/// Every error a client can get, mapped to a status and a body in the client's own dialect.
enum ProxyError: Error, HTTPResponseError {
    case request(RequestError, Dialect)
    case backend(BackendError, Dialect)
    case notReady(String)
    /// Taking the body would pass `server.max_buffered_body_bytes`; the body is not read (503, Retry-After).
    case overloaded(Dialect)

    var status: HTTPResponse.Status {
        switch self {
        case .request(let error, let dialect):
            switch error {
            case .unknownModel: .notFound
            case .bodyTooLarge: .contentTooLarge
            case .unsupportedEncoding: .unsupportedMediaType
            case .empty: .badRequest
            case .invalid, .tooManyDocuments: dialect == .tei ? .unprocessableContent : .badRequest
            }
        case .backend(let error, _):
            if case .timeout = error { .gatewayTimeout } else { .badGateway }
        case .notReady, .overloaded: .serviceUnavailable
        }
    }

    /// Errors answered before the body was read also close the connection (``RequestDeadlineHandler`` closes it once
    /// the answer is written), so the rest of a body the proxy will not use is never drained.
    var headers: HTTPFields {
        switch self {
        case .request(.bodyTooLarge, _): [.contentType: "application/json", .connection: "close"]
        case .request(.unsupportedEncoding, _): [.contentType: "application/json", .connection: "close", .acceptEncoding: "identity"]
        case .overloaded: [.contentType: "application/json", .connection: "close", .retryAfter: "1"]
        default: [.contentType: "application/json"]
        }
    }

    private var dialect: Dialect {
        switch self {
        case .request(_, let d), .backend(_, let d), .overloaded(let d): d
        case .notReady: .documents
        }
    }

    private var message: String {
        switch self {
        case .request(let error, _): error.message
        case .backend(let error, _): error.description
        case .notReady(let reason): reason
        case .overloaded: "too many request bodies in flight (server.max_buffered_body_bytes); retry shortly"
        }
    }

    private var type: String {
        switch self {
        case .request(.unknownModel, _): "NotFoundError"
        case .request(.bodyTooLarge, _): "PayloadTooLargeError"
        case .request(.unsupportedEncoding, _): "UnsupportedMediaTypeError"
        case .request: "BadRequestError"
        case .backend(.timeout, _): "GatewayTimeoutError"
        case .backend: "BadGatewayError"
        case .notReady, .overloaded: "ServiceUnavailableError"
        }
    }

    private var teiErrorType: String {
        switch self {
        case .request(.empty, _): "Empty"
        case .request: "Validation"
        case .backend: "Backend"
        case .notReady: "Unhealthy"
        case .overloaded: "Overloaded"
        }
    }

    private var param: String? {
        switch self {
        case .request(.invalid(_, let param), _): param
        case .request(.tooManyDocuments, _): "documents"
        case .request(.unknownModel, _): "model"
        default: nil
        }
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        let body = dialect == .tei
            ? ResponseRenderer.teiError(message: message, errorType: teiErrorType)
            : ResponseRenderer.documentsError(message: message, type: type, param: param, code: Int(status.code))
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}
