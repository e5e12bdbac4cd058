import Hummingbird
import NIOCore
import RerankBackends
import RerankCore

/// Every error a client can get, mapped to a status and a body in the client's own dialect.
enum ProxyError: Error, HTTPResponseError {
    case request(RequestError, Dialect)
    case backend(BackendError, Dialect)
    case notReady(String)

    var status: HTTPResponse.Status {
        switch self {
        case .request(let error, let dialect):
            switch error {
            case .unknownModel: .notFound
            case .bodyTooLarge: .contentTooLarge
            case .empty: .badRequest
            case .invalid, .tooManyDocuments, .refusedByBackend: dialect == .tei ? .unprocessableContent : .badRequest
            }
        case .backend(let error, _):
            switch error {
            case .timeout: .gatewayTimeout
            case .localQueueTimeout: .serviceUnavailable
            default: .badGateway
            }
        case .notReady: .serviceUnavailable
        }
    }

    var headers: HTTPFields { [.contentType: "application/json"] }

    private var dialect: Dialect {
        switch self {
        case .request(_, let d), .backend(_, let d): d
        case .notReady: .documents
        }
    }

    private var message: String {
        switch self {
        case .request(let error, _): error.message
        case .backend(let error, _): error.description
        case .notReady(let reason): reason
        }
    }

    private var type: String {
        switch self {
        case .request(.unknownModel, _): "NotFoundError"
        case .request(.bodyTooLarge, _): "PayloadTooLargeError"
        case .request: "BadRequestError"
        case .backend(.timeout, _): "GatewayTimeoutError"
        case .backend(.localQueueTimeout, _): "ServiceUnavailableError"
        case .backend: "BadGatewayError"
        case .notReady: "ServiceUnavailableError"
        }
    }

    private var teiErrorType: String {
        switch self {
        case .request(.empty, _): "Empty"
        case .request: "Validation"
        case .backend: "Backend"
        case .notReady: "Unhealthy"
        }
    }

    private var param: String? {
        switch self {
        case .request(.invalid(_, let param), _): param
        case .request(.tooManyDocuments, _), .request(.refusedByBackend, _): "documents"
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
