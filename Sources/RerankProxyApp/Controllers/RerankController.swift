import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
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
        let timeout: Duration?
        do {
            timeout = try Self.requestTimeout(request.headers)
        } catch {
            throw ProxyError.request(error, defaultDialect)
        }
        do {
            return try await bodyBudget.withBody(of: request, upTo: maxBodyBytes) { buffer in
                try await handle(buffer, context, route: route, timeout: timeout)
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

    /// The client's deadline from `X-Request-Timeout` (seconds, e.g. `0.5`); `nil` when absent.
    static func requestTimeout(_ headers: HTTPFields) throws(RequestError) -> Duration? {
        guard let name = HTTPField.Name("X-Request-Timeout"), let text = headers[name] else { return nil }
        guard let seconds = Double(text.trimmingCharacters(in: .whitespaces)), seconds.isFinite, seconds > 0, seconds <= 86_400 else {
            throw .invalid("X-Request-Timeout must be a positive number of seconds (e.g. 0.5)", param: "X-Request-Timeout")
        }
        return .milliseconds(Int64((seconds * 1000).rounded(.up)))
    }

    private func handle(_ buffer: ByteBuffer, _ context: AppRequestContext, route: RerankRoute, timeout: Duration?) async throws -> Response {
        // One bounded pass: the document count is checked before any document is decoded, nesting depth is
        // capped, and the dialect of an error is known without parsing the body a second time.
        let parsed = buffer.withUnsafeReadableBytes { bytes in
            Result { () throws(RequestParser.Failure) in try RequestParser.parse(bytes, route: route, limits: limits) }
        }
        let rerank: RerankRequest
        switch parsed {
        case .success(let request): rerank = request
        case .failure(let failure): throw ProxyError.request(failure.error, failure.dialect)
        }
        let result = try await pipeline.rerank(rerank, timeout: timeout, logger: context.logger)
        let bytes = ResponseRenderer.render(result, for: rerank)
        return Response(
            status: .ok,
            headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: bytes))
        )
    }
}
