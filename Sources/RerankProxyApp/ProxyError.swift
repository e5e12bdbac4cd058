import Hummingbird
import NIOCore
import RerankBackends
import RerankCore

/// Every error a client can get, mapped to a status and a body in the client's own dialect.
///
/// Each case is described once, in ``descriptor``: add a case there and nowhere else.
enum ProxyError: Error, HTTPResponseError {
    case request(RequestError, Dialect)
    case backend(BackendError, Dialect)
    /// Taking the body would pass `server.max_buffered_body_bytes`; the body is not read (503, Retry-After).
    case overloaded(Dialect)
    /// No API key, or one that is not configured (401).
    case unauthorized(Dialect)
    /// The key may not use this model (403).
    case forbidden(model: String, Dialect)
    /// The key's rate limit (429, Retry-After in whole seconds).
    case rateLimited(retryAfter: Int, Dialect)
    /// A batch or job with more pairs than `jobs.<setting>` allows (413).
    case tooManyPairs(count: Int, limit: Int, setting: String)
    /// No job with this id (404): never created, or swept after `jobs.ttl`.
    case jobNotFound(String)
    /// The job store could not be read or written (503, Retry-After).
    case jobStoreUnavailable(String)
    /// An `Idempotency-Key` header that is empty, too long or not visible ASCII (400).
    case badIdempotencyKey
    /// An `Idempotency-Key` already used, by this API key, for a job with a different body (422).
    case idempotencyKeyReused(jobID: String)

    /// Everything the answer needs to know about one error.
    struct Descriptor {
        var status: HTTPResponse.Status
        /// Cohere/OpenAI-style `error.type`.
        var type: String
        /// TEI's `error_type`.
        var teiType: String
        var message: String
        var param: String? = nil
        var dialect: Dialect
        /// Errors answered before the body was read close the connection (``RequestDeadlineHandler`` closes it
        /// once the answer is written), so the rest of a body the proxy will not use is never drained.
        var closesConnection = false
        var extraHeaders: HTTPFields = [:]
    }

    var descriptor: Descriptor {
        switch self {
        case .request(let error, let dialect):
            let refusal: HTTPResponse.Status = dialect == .tei ? .unprocessableContent : .badRequest
            let message = error.message
            switch error {
            case .unknownModel:
                return Descriptor(status: .notFound, type: "NotFoundError", teiType: "Validation", message: message, param: "model", dialect: dialect)
            case .bodyTooLarge:
                return Descriptor(
                    status: .contentTooLarge, type: "PayloadTooLargeError", teiType: "Validation", message: message, dialect: dialect,
                    closesConnection: true
                )
            case .unsupportedEncoding:
                return Descriptor(
                    status: .unsupportedMediaType, type: "UnsupportedMediaTypeError", teiType: "Validation", message: message,
                    dialect: dialect, closesConnection: true, extraHeaders: [.acceptEncoding: "identity"]
                )
            case .empty:
                return Descriptor(status: .badRequest, type: "BadRequestError", teiType: "Empty", message: message, dialect: dialect)
            case .invalid(_, let param):
                return Descriptor(status: refusal, type: "BadRequestError", teiType: "Validation", message: message, param: param, dialect: dialect)
            case .tooManyDocuments, .refusedByBackend:
                return Descriptor(status: refusal, type: "BadRequestError", teiType: "Validation", message: message, param: "documents", dialect: dialect)
            }
        case .backend(let error, let dialect):
            switch error {
            case .timeout, .clientDeadline:
                return Descriptor(status: .gatewayTimeout, type: "GatewayTimeoutError", teiType: "Backend", message: error.description, dialect: dialect)
            case .localQueueTimeout:
                return Descriptor(
                    status: .serviceUnavailable, type: "ServiceUnavailableError", teiType: "Overloaded", message: error.description,
                    dialect: dialect, extraHeaders: [.retryAfter: "1"]
                )
            case .overloaded:
                return Descriptor(
                    status: .tooManyRequests, type: "TooManyRequestsError", teiType: "Overloaded", message: error.description,
                    dialect: dialect, extraHeaders: [.retryAfter: "1"]
                )
            default:
                return Descriptor(status: .badGateway, type: "BadGatewayError", teiType: "Backend", message: error.description, dialect: dialect)
            }
        case .unauthorized(let dialect):
            return Descriptor(
                status: .unauthorized, type: "AuthenticationError", teiType: "Unauthorized",
                message: "a valid API key is required (Authorization: Bearer <key>, api-key or X-API-Key)", dialect: dialect,
                closesConnection: true, extraHeaders: [.wwwAuthenticate: "Bearer"]
            )
        case .forbidden(let model, let dialect):
            return Descriptor(
                status: .forbidden, type: "PermissionDeniedError", teiType: "Unauthorized",
                message: "this API key may not use model \"\(model)\"", param: "model", dialect: dialect
            )
        case .rateLimited(let retryAfter, let dialect):
            return Descriptor(
                status: .tooManyRequests, type: "RateLimitError", teiType: "Overloaded",
                message: "rate limit exceeded for this API key; retry after \(retryAfter) s", dialect: dialect,
                closesConnection: true, extraHeaders: [.retryAfter: "\(retryAfter)"]
            )
        case .tooManyPairs(let count, let limit, let setting):
            return Descriptor(
                status: .contentTooLarge, type: "PayloadTooLargeError", teiType: "Validation",
                message: "\(count) pairs (documents summed over the requests) is more than the limit of \(limit) (jobs.\(setting))",
                param: "requests", dialect: .documents
            )
        case .jobNotFound(let id):
            return Descriptor(
                status: .notFound, type: "NotFoundError", teiType: "Validation",
                message: "no job \"\(id)\" (unknown, or finished more than jobs.ttl ago and swept)", param: "id", dialect: .documents
            )
        case .jobStoreUnavailable(let reason):
            return Descriptor(
                status: .serviceUnavailable, type: "ServiceUnavailableError", teiType: "Overloaded",
                message: "the job store is unavailable: \(reason)", dialect: .documents, extraHeaders: [.retryAfter: "1"]
            )
        case .badIdempotencyKey:
            return Descriptor(
                status: .badRequest, type: "BadRequestError", teiType: "Validation",
                message: "Idempotency-Key must be 1 to 255 visible ASCII characters", param: "Idempotency-Key", dialect: .documents
            )
        case .idempotencyKeyReused(let jobID):
            return Descriptor(
                status: .unprocessableContent, type: "UnprocessableEntityError", teiType: "Validation",
                message: "this Idempotency-Key was used for job \"\(jobID)\" with a different body; use a new key for a new job",
                param: "Idempotency-Key", dialect: .documents
            )
        case .overloaded(let dialect):
            return Descriptor(
                status: .serviceUnavailable, type: "ServiceUnavailableError", teiType: "Overloaded",
                message: "too many request bodies in flight (server.max_buffered_body_bytes); retry shortly", dialect: dialect,
                closesConnection: true, extraHeaders: [.retryAfter: "1"]
            )
        }
    }

    var status: HTTPResponse.Status { descriptor.status }

    var headers: HTTPFields {
        let descriptor = self.descriptor
        var headers: HTTPFields = [.contentType: "application/json"]
        if descriptor.closesConnection { headers[.connection] = "close" }
        headers.append(contentsOf: descriptor.extraHeaders)
        return headers
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        let d = descriptor
        let body = d.dialect == .tei
            ? ResponseRenderer.teiError(message: d.message, errorType: d.teiType)
            : ResponseRenderer.documentsError(message: d.message, type: d.type, param: d.param, code: Int(d.status.code))
        return Response(status: d.status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}
