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
        // A query parameter no client sends by accident: per-result provenance in `meta.cache`.
        let explain = request.uri.queryParameters.get("explain").map { $0 == "true" || $0 == "1" } ?? false
        // Models and keys as of now, for the whole request (a reload swaps them for later requests only).
        let runtime = pipeline.runtime.current
        // Keys before the body: a refused client costs no read and no parse.
        let client = try authenticate(request, runtime: runtime, dialect: defaultDialect)
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
                try await handle(buffer, context, runtime: runtime, route: route, explain: explain, client: client, timeout: timeout)
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
        guard let text = headers[requestTimeoutHeader] else { return nil }
        guard let seconds = Double(text.trimmingCharacters(in: .whitespaces)), seconds.isFinite, seconds > 0, seconds <= 86_400 else {
            throw .invalid("X-Request-Timeout must be a positive number of seconds (e.g. 0.5)", param: "X-Request-Timeout")
        }
        return .milliseconds(Int64((seconds * 1000).rounded(.up)))
    }


    static let requestTimeoutHeader = HTTPFields.Element.Name("X-Request-Timeout")!

    /// Where a response's scores came from, over the request's unique pairs: `hits=18; coalesced=0; forwarded=2`.
    static let cacheHeader = HTTPFields.Element.Name("X-Rerank-Cache")!

    /// The API key's client when keys are configured (`nil` when auth is off). `spendsToken: false` for reads that
    /// score nothing (a job's status and results), so polling a job never uses up its key's rate.
    /// - Throws: ``ProxyError/unauthorized(_:)`` or ``ProxyError/rateLimited(retryAfter:_:)``.
    func authenticate(_ request: Request, runtime: Runtime, dialect: Dialect, spendsToken: Bool = true) throws -> KeyRing.Client? {
        let keyRing = runtime.keyRing
        let keyStats = runtime.keyStats
        guard keyRing.isEnabled else { return nil }
        let secret = KeyRing.presentedSecret(in: request.headers)
        guard let secret, let client = keyRing.client(presenting: secret) ?? (keyRing.isAdmin(secret) ? KeyRing.admin : nil) else {
            keyStats.rejected(nil, .unauthorized)
            throw ProxyError.unauthorized(dialect)
        }
        if spendsToken, case .limited(let retryAfter) = keyRing.admit(client) {
            keyStats.rejected(client.name, .rateLimited)
            let seconds = max(1, Int((Double(retryAfter.components.seconds) + Double(retryAfter.components.attoseconds) / 1e18).rounded(.up)))
            throw ProxyError.rateLimited(retryAfter: seconds, dialect)
        }
        return client
    }

    private func handle(
        _ buffer: ByteBuffer, _ context: AppRequestContext, runtime: Runtime, route: RerankRoute, explain: Bool, client: KeyRing.Client?,
        timeout: Duration?
    ) async throws -> Response {
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
        if let allowed = client?.models {
            let model = (try? runtime.models.model(named: rerank.model).name) ?? rerank.model ?? ""
            guard allowed.contains(model) else {
                runtime.keyStats.rejected(client?.name, .forbidden)
                throw ProxyError.forbidden(model: model, rerank.dialect)
            }
        }
        let result = try await pipeline.rerank(
            rerank, models: runtime.models, namespace: client?.namespace, timeout: timeout, logger: context.logger
        )
        if let client { runtime.keyStats.served(client.name, tally: result.tally) }
        let bytes = ResponseRenderer.render(result, for: rerank, explain: explain)
        return Response(
            status: .ok,
            headers: [.contentType: "application/json", Self.cacheHeader: result.cacheHeader],
            body: .init(byteBuffer: ByteBuffer(bytes: bytes))
        )
    }
}
