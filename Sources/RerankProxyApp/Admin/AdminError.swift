import Hummingbird
import NIOCore
import RerankCore

/// Errors of the `/admin` endpoints, in the documents dialect's error shape.
enum AdminError: Error, HTTPResponseError {
    /// No admin key is configured and the client is not on a loopback address (403).
    case loopbackOnly
    /// No key, or one that is not configured (401).
    case unauthorized
    /// A valid API key that is not an admin key (403).
    case notAdmin
    case badRequest(String)
    case unknownModel(String)
    /// The store could not record the purge; nothing changed (503).
    case storeFailed(String)

    var status: HTTPResponse.Status {
        switch self {
        case .loopbackOnly, .notAdmin: .forbidden
        case .unauthorized: .unauthorized
        case .badRequest: .badRequest
        case .unknownModel: .notFound
        case .storeFailed: .serviceUnavailable
        }
    }

    var message: String {
        switch self {
        case .loopbackOnly: "the admin endpoints are answered only on a loopback address while auth.admin_keys is empty; configure an admin key"
        case .unauthorized: "an admin key is required (Authorization: Bearer <key>, api-key or X-API-Key)"
        case .notAdmin: "this API key is not an admin key"
        case .badRequest(let message): message
        case .unknownModel(let model): "model \"\(model)\" is not served here"
        case .storeFailed(let reason): "nothing was purged: the cache store could not record it (\(reason))"
        }
    }

    var type: String {
        switch self {
        case .loopbackOnly, .notAdmin: "PermissionDeniedError"
        case .unauthorized: "AuthenticationError"
        case .badRequest: "BadRequestError"
        case .unknownModel: "NotFoundError"
        case .storeFailed: "ServiceUnavailableError"
        }
    }

    var headers: HTTPFields {
        var headers: HTTPFields = [.contentType: "application/json"]
        if case .unauthorized = self { headers[.wwwAuthenticate] = "Bearer" }
        return headers
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        let body = ResponseRenderer.documentsError(message: message, type: type, param: nil, code: Int(status.code))
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}
