import Hummingbird
import NIOCore
import RerankCore

/// `POST /rerank`, `/v1/rerank`, `/v2/rerank`: parse, validate, run the pipeline, answer in the client's dialect.
struct RerankController: Sendable {
    let pipeline: RerankPipeline
    let limits: RequestLimits
    let maxBodyBytes: Int

    func addRoutes(to router: Router<AppRequestContext>) {
        router.post("/rerank") { request, context in try await handle(request, context, route: .rerank) }
        router.post("/v1/rerank") { request, context in try await handle(request, context, route: .v1) }
        router.post("/v2/rerank") { request, context in try await handle(request, context, route: .v2) }
    }

    func handle(_ request: Request, _ context: AppRequestContext, route: RerankRoute) async throws -> Response {
        let defaultDialect: Dialect = route == .v2 ? .documentsV2 : .documents
        if let length = request.headers[.contentLength].flatMap(Int.init), length > maxBodyBytes {
            throw ProxyError.request(.bodyTooLarge(limit: maxBodyBytes), defaultDialect)
        }
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: maxBodyBytes)
        } catch is NIOTooManyBytesError {
            throw ProxyError.request(.bodyTooLarge(limit: maxBodyBytes), defaultDialect)
        }
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
        let result = try await pipeline.rerank(rerank, logger: context.logger)
        let bytes = ResponseRenderer.render(result, for: rerank)
        return Response(
            status: .ok,
            headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: bytes))
        )
    }
}
