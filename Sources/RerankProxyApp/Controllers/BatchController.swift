import HTTPTypes
import Hummingbird
import NIOCore
import RerankCache
import RerankCore

/// `POST /v1/rerank/batch`: several rerank requests for one model in one call, scored together.
///
/// ```
/// POST /v1/rerank/batch  {"model": "m", "requests": [{"query": "q1", "documents": ["a", "b"]}, {"query": "q2", …}]}
/// 200 {"id": "rerank-…", "model": "m", "results": [R0, R1]}     (each Ri as /v1/rerank would answer request i)
/// ```
/// Each request is validated as `/v1/rerank` validates a body (`server.max_documents` each); the whole body is
/// limited by `server.max_body_bytes` and its pairs by `jobs.max_batch_pairs` (413).
struct BatchController: Sendable {
    let pipeline: RerankPipeline
    let rerank: RerankController
    let maxBatchPairs: Int

    func addRoutes(to router: Router<AppRequestContext>) {
        router.post("/v1/rerank/batch") { request, context in try await handle(request, context) }
    }

    func handle(_ request: Request, _ context: AppRequestContext) async throws -> Response {
        let (batch, client, _, runtime) = try await Self.readBatch(
            request, context, rerank: rerank, maxBodyBytes: rerank.maxBodyBytes, pipeline: pipeline
        )
        guard batch.pairCount <= maxBatchPairs else {
            throw ProxyError.tooManyPairs(count: batch.pairCount, limit: maxBatchPairs, setting: "max_batch_pairs")
        }
        let timeout: Duration?
        do {
            timeout = try RerankController.requestTimeout(request.headers)
        } catch {
            throw ProxyError.request(error, .documents)
        }
        let items = try await pipeline.rerankBatch(
            batch.requests, model: batch.model, models: runtime.models, namespace: client?.namespace, priority: .interactive, timeout: timeout,
            logger: context.logger
        )
        var tally = RequestTally()
        var results: [[UInt8]] = []
        results.reserveCapacity(items.count)
        for (i, item) in items.enumerated() {
            switch item.result {
            case .success(let result):
                tally.memoryHits += result.tally.memoryHits
                tally.storeHits += result.tally.storeHits
                tally.coalesced += result.tally.coalesced
                tally.forwarded += result.tally.forwarded
                tally.tokens += result.tally.tokens
                results.append(ResponseRenderer.render(result, for: batch.requests[i]))
            case .failure(let error):
                throw Self.naming(error, request: i)
            }
        }
        if let client { runtime.keyStats.served(client.name, tally: tally) }
        let model = batch.model ?? runtime.models.defaultModel
        var w = JSONWriter(capacity: 64 + results.reduce(0) { $0 + $1.count + 1 })
        w.raw("{\"id\":")
        w.string(RerankPipeline.requestID())
        w.raw(",\"model\":")
        w.string(model)
        w.raw(",\"results\":[")
        for (n, bytes) in results.enumerated() {
            if n > 0 { w.byte(UInt8(ascii: ",")) }
            w.append(bytes)
        }
        w.raw("]}")
        let header = "hits=\(tally.memoryHits + tally.storeHits); coalesced=\(tally.coalesced); forwarded=\(tally.forwarded)"
        return Response(
            status: .ok, headers: [.contentType: "application/json", RerankController.cacheHeader: header],
            body: .init(byteBuffer: ByteBuffer(bytes: w.bytes))
        )
    }

    /// A request's error with the request named: `requests[3]: documents[1] was refused …`.
    static func naming(_ error: ProxyError, request index: Int) -> ProxyError {
        guard case .request(let refusal, let dialect) = error else { return error }
        return .request(.invalid("requests[\(index)]: \(refusal.message)", param: "requests[\(index)]"), dialect)
    }

    /// Authenticates, reads and parses a batch body (JSON, or NDJSON when sent as `application/x-ndjson`), and
    /// checks that the key may use its model.
    /// - Parameter keepingBytes: also return the body as sent (a job stores it, to parse it again when resumed).
    /// - Returns: the batch, its model resolved (the default when it names none), the client, the body if kept, and
    ///   the models and keys as of this request (a reload swaps them for later requests only).
    /// - Throws: ``ProxyError`` (401/403/413/415/400/404), before anything is scored.
    static func readBatch(
        _ request: Request, _ context: AppRequestContext, rerank: RerankController, maxBodyBytes: Int, pipeline: RerankPipeline,
        keepingBytes: Bool = false
    ) async throws -> (BatchParser.Batch, KeyRing.Client?, JobInput?, Runtime) {
        let runtime = pipeline.runtime.current
        let client = try rerank.authenticate(request, runtime: runtime, dialect: .documents)
        if let encoding = RerankController.unsupportedEncoding(request.headers) {
            throw ProxyError.request(.unsupportedEncoding(encoding), .documents)
        }
        let lines = request.headers[.contentType]?.lowercased().hasPrefix("application/x-ndjson") == true
        let limits = rerank.limits
        let queryModel = request.uri.queryParameters.get("model")
        let parsed: Result<BatchParser.Batch, RequestError>
        var input: JobInput?
        do {
            (parsed, input) = try await rerank.bodyBudget.withBody(of: request, upTo: maxBodyBytes) { buffer in
                let parsed = buffer.withUnsafeReadableBytes { bytes in
                    Result { () throws(RequestError) in try BatchParser.parse(bytes, lines: lines, model: queryModel, limits: limits) }
                }
                return (parsed, keepingBytes ? JobInput(bytes: Array(buffer.readableBytesView), isLines: lines) : nil)
            }
        } catch BodyBudget.Refusal.tooLarge {
            throw ProxyError.request(.bodyTooLarge(limit: maxBodyBytes), .documents)
        } catch BodyBudget.Refusal.exhausted {
            throw ProxyError.overloaded(.documents)
        }
        var batch: BatchParser.Batch
        switch parsed {
        case .success(let value): batch = value
        case .failure(let error): throw ProxyError.request(error, .documents)
        }
        guard !batch.requests.isEmpty else { throw ProxyError.request(.invalid("\"requests\" must not be empty", param: "requests"), .documents) }
        let model: String
        do {
            model = try runtime.models.model(named: batch.model).name
        } catch {
            throw ProxyError.request(error, .documents)
        }
        if let allowed = client?.models, !allowed.contains(model) {
            runtime.keyStats.rejected(client?.name, .forbidden)
            throw ProxyError.forbidden(model: model, .documents)
        }
        batch.model = model
        return (batch, client, input, runtime)
    }
}
