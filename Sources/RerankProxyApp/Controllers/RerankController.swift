import Foundation
import Hummingbird
import NIOCore
import NIOFoundationCompat
import RerankCore

/// `POST /rerank`, `/v1/rerank`, `/v2/rerank`: parse, validate, run the pipeline, answer in the client's dialect.
struct RerankController: Sendable {
    let pipeline: RerankPipeline
    let limits: RequestLimits
    let maxBodyBytes: Int
    /// Charged with every body while its request is in flight (`server.max_buffered_body_bytes`).
    let bodyBudget: BodyBudget

    func addRoutes(to router: Router<AppRequestContext>) {
        router.post("/rerank") { request, context in try await handle(request, context, route: .rerank) }
        router.post("/v1/rerank") { request, context in try await handle(request, context, route: .v1) }
        router.post("/v2/rerank") { request, context in try await handle(request, context, route: .v2) }
    }

    func handle(_ request: Request, _ context: AppRequestContext, route: RerankRoute) async throws -> Response {
        let defaultDialect: Dialect = route == .v2 ? .documentsV2 : .documents
        if let encoding = Self.unsupportedEncoding(request.headers) {
            throw ProxyError.request(.unsupportedEncoding(encoding), defaultDialect)
        }
        do {
            return try await bodyBudget.withBody(of: request, upTo: maxBodyBytes) { buffer in
                try await handle(buffer, context, route: route, defaultDialect: defaultDialect)
            }
        } catch BodyBudget.Refusal.tooLarge {
            throw ProxyError.request(.bodyTooLarge(limit: maxBodyBytes), defaultDialect)
        } catch BodyBudget.Refusal.exhausted {
            context.logger.debug("request body refused: server.max_buffered_body_bytes reached")
            throw ProxyError.overloaded(defaultDialect)
        }
    }

    /// The first `Content-Encoding` coding other than `identity`, which the proxy does not decode.
    static func unsupportedEncoding(_ headers: HTTPFields) -> String? {
        for value in headers[values: .contentEncoding] {
            for coding in value.split(separator: ",") {
                let name = coding.trimmingCharacters(in: .whitespaces)
                if !name.isEmpty, name.lowercased() != "identity" { return name }
            }
        }
        return nil
    }

    private func handle(_ buffer: ByteBuffer, _ context: AppRequestContext, route: RerankRoute, defaultDialect: Dialect) async throws -> Response {
        let body: RerankBody
        do {
            body = try JSONDecoder().decode(RerankBody.self, from: buffer)
        } catch {
            let dialect = route == .rerank && Self.looksLikeTEI(buffer) ? Dialect.tei : defaultDialect
            throw ProxyError.request(.invalid(Self.describe(error), param: Self.param(error)), dialect)
        }
        let rerank: RerankRequest
        do {
            rerank = try RerankRequest(body: body, route: route, limits: limits)
        } catch {
            let dialect = route == .rerank && body.texts != nil && body.documents == nil ? Dialect.tei : defaultDialect
            throw ProxyError.request(error, dialect)
        }
        let result = try await pipeline.rerank(rerank, logger: context.logger)
        let bytes = ResponseRenderer.render(result, for: rerank)
        return Response(
            status: .ok,
            headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: bytes))
        )
    }

    /// Whether an undecodable body still names `texts` (a TEI client), so its error is TEI-shaped.
    static func looksLikeTEI(_ buffer: ByteBuffer) -> Bool {
        guard let object = try? JSONSerialization.jsonObject(with: Data(buffer: buffer)) as? [String: Any] else { return false }
        return object["texts"] != nil && object["documents"] == nil
    }

    static func describe(_ error: any Error) -> String {
        guard let error = error as? DecodingError else { return "request body is not valid JSON" }
        switch error {
        case .typeMismatch(let type, let context):
            let path = render(context.codingPath)
            if path.isEmpty { return "request body must be a JSON object" }
            let detail = context.debugDescription.hasPrefix("Expected") ? "expected \(typeName(type))" : context.debugDescription
            return "\(path): \(detail)"
        case .valueNotFound(let type, let context):
            return "\(render(context.codingPath)): expected \(typeName(type)), found null"
        case .keyNotFound(let key, let context):
            return "\(render(context.codingPath + [key])) is required"
        case .dataCorrupted(let context):
            let path = render(context.codingPath)
            return path.isEmpty ? "request body is not valid JSON" : "\(path): \(context.debugDescription)"
        @unknown default:
            return "request body is invalid"
        }
    }

    static func param(_ error: any Error) -> String? {
        guard let error = error as? DecodingError else { return nil }
        let path: [any CodingKey]
        switch error {
        case .typeMismatch(_, let c), .valueNotFound(_, let c), .dataCorrupted(let c): path = c.codingPath
        case .keyNotFound(let key, let c): path = c.codingPath + [key]
        @unknown default: return nil
        }
        return path.first?.stringValue
    }

    private static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Int.Type: "an integer"
        case is Bool.Type: "a boolean"
        case is Double.Type: "a number"
        default: "\(type)".lowercased().contains("array") ? "an array" : "\(type)"
        }
    }

    private static func render(_ path: [any CodingKey]) -> String {
        var out = ""
        for key in path {
            if let index = key.intValue { out += "[\(index)]" } else { out += out.isEmpty ? key.stringValue : ".\(key.stringValue)" }
        }
        return out
    }
}
