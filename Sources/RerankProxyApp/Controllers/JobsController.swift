import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import RerankCache
import RerankCore

/// The asynchronous job API: submit a batch, poll it, read its results a page at a time (or as NDJSON), cancel it.
///
/// ```
/// POST   /v1/rerank/jobs          body as /v1/rerank/batch, or NDJSON (one request per line)  → 202 {id, status, status_url}
/// GET    /v1/rerank/jobs/{id}     status, progress; results when finished (?offset=&limit=, Accept: application/x-ndjson)
/// DELETE /v1/rerank/jobs/{id}     cancels a queued or running job
/// GET    /v1/rerank/jobs          recent jobs, newest first (?limit=, default 100)
/// ```
/// With API keys configured, a job is visible only to the key that submitted it (and to admin keys).
struct JobsController: Sendable {
    let pipeline: RerankPipeline
    let rerank: RerankController
    let runner: JobRunner
    let configuration: JobsConfig

    /// Results on one page when `limit` is not given.
    static let defaultPage = 1000
    static let ndjson = "application/x-ndjson"

    func addRoutes(to router: Router<AppRequestContext>) {
        router.post("/v1/rerank/jobs") { request, context in try await submit(request, context) }
        router.get("/v1/rerank/jobs") { request, context in try await list(request, context) }
        router.get("/v1/rerank/jobs/:id") { request, context in try await show(request, context) }
        router.delete("/v1/rerank/jobs/:id") { request, context in try await cancel(request, context) }
    }

    // MARK: - Routes

    func submit(_ request: Request, _ context: AppRequestContext) async throws -> Response {
        let (batch, client, kept, runtime) = try await BatchController.readBatch(
            request, context, rerank: rerank, maxBodyBytes: configuration.maxBodyBytes, pipeline: pipeline, keepingBytes: true
        )
        // After the key check in readBatch: an unauthenticated client gets 401 whatever its headers say.
        let idempotency = try IdempotentSubmission(header: request.headers[Self.idempotencyKey])
        guard batch.pairCount <= configuration.maxPairs else {
            throw ProxyError.tooManyPairs(count: batch.pairCount, limit: configuration.maxPairs, setting: "max_pairs")
        }
        let input = kept ?? JobInput(bytes: [], isLines: false)
        var record = JobRecord(
            id: idempotency?.jobID(owner: client?.name) ?? "job-" + RerankPipeline.requestID().dropFirst("rerank-".count),
            model: batch.model ?? runtime.models.defaultModel,
            createdAt: runner.now(), requests: batch.requests.count, totalPairs: batch.pairCount, owner: client?.name,
            namespace: client?.namespace
        )
        let queryModel = request.uri.queryParameters.get("model").map { String($0) }
        record.inputSHA256 = idempotency.map { _ in IdempotentSubmission.digest(input, queryModel: queryModel) }
        do {
            // The store creates a job only if its id is new: a retry of an idempotent submission (or the loser of
            // a race to create it) is answered with the job that exists, never a second one.
            guard try await runner.submit(record, input: input) else {
                guard let existing = try await runner.store.job(record.id) else {
                    throw CacheError.query(reason: "job \(record.id) exists but cannot be read")
                }
                return try replay(existing, of: record)
            }
        } catch let error as ProxyError {
            throw error
        } catch {
            context.logger.warning("cannot store a submitted rerank job", metadata: ["error.type": "\(error)"])
            throw ProxyError.jobStoreUnavailable("\(error)")
        }
        return accepted(record, replayed: false)
    }

    static let idempotencyKey = HTTPField.Name("Idempotency-Key")!
    static let idempotentReplayed = HTTPField.Name("Idempotent-Replayed")!

    /// The answer to a retried idempotent submission: the job it created, if the body is the same.
    private func replay(_ existing: JobRecord, of submitted: JobRecord) throws(ProxyError) -> Response {
        guard existing.inputSHA256 == submitted.inputSHA256 else { throw .idempotencyKeyReused(jobID: existing.id) }
        return accepted(existing, replayed: true)
    }

    /// 202 with the job's id, status and status URL (`Idempotent-Replayed: true` when the job existed already).
    private func accepted(_ record: JobRecord, replayed: Bool) -> Response {
        let view = JobView(record, durable: runner.store.isDurable)
        var w = JSONWriter(capacity: 128)
        w.raw("{\"id\":")
        w.string(view.id)
        w.raw(",\"status\":")
        w.string(view.status)
        w.raw(",\"status_url\":")
        w.string(view.status_url)
        w.raw("}")
        var headers: HTTPFields = [.contentType: "application/json", .location: view.status_url]
        if replayed { headers[Self.idempotentReplayed] = "true" }
        return Response(status: .accepted, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: w.bytes)))
    }

    func show(_ request: Request, _ context: AppRequestContext) async throws -> Response {
        let record = try await job(request, context)
        let wantsLines = request.headers[.accept]?.lowercased().contains(Self.ndjson) == true
        let offset = max(0, request.uri.queryParameters.get("offset").flatMap { Int($0) } ?? 0)
        if wantsLines {
            guard record.status.isFinished else {
                throw ProxyError.request(.invalid("job \(record.id) is \(record.status.rawValue): its NDJSON results are served once it is finished"), .documents)
            }
            return lines(of: record, from: offset, limit: request.uri.queryParameters.get("limit").flatMap { Int($0) })
        }
        let limit = min(max(0, request.uri.queryParameters.get("limit").flatMap { Int($0) } ?? Self.defaultPage), 100_000)
        var body = JSONResponse.encode(JobView(record, durable: runner.store.isDurable))
        if record.status == .succeeded || record.status == .failed {
            let page: [[UInt8]]
            do {
                page = try await runner.store.results(of: record.id, offset: offset, limit: limit)
            } catch {
                throw ProxyError.jobStoreUnavailable(error.description)
            }
            body.removeLast()  // the view's closing brace
            var w = JSONWriter(capacity: body.count + 64 + page.reduce(0) { $0 + $1.count + 1 })
            w.append(body)
            w.raw(",\"offset\":")
            w.int(offset)
            w.raw(",\"limit\":")
            w.int(limit)
            w.raw(",\"next_offset\":")
            if offset + page.count < record.requests { w.int(offset + page.count) } else { w.raw("null") }
            w.raw(",\"results\":[")
            for (n, result) in page.enumerated() {
                if n > 0 { w.byte(UInt8(ascii: ",")) }
                w.append(result)
            }
            w.raw("]}")
            body = w.bytes
        }
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    func cancel(_ request: Request, _ context: AppRequestContext) async throws -> Response {
        let record = try await job(request, context)
        let now: JobRecord
        do {
            now = try await runner.cancel(record)
        } catch {
            throw ProxyError.jobStoreUnavailable(error.description)
        }
        return Response(
            status: .ok, headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: JSONResponse.encode(JobView(now, durable: runner.store.isDurable))))
        )
    }

    func list(_ request: Request, _ context: AppRequestContext) async throws -> Response {
        let client = try rerank.authenticate(request, runtime: pipeline.runtime.current, dialect: .documents, spendsToken: false)
        let limit = min(max(1, request.uri.queryParameters.get("limit").flatMap { Int($0) } ?? 100), 1000)
        let records: [JobRecord]
        do {
            // A key's own jobs: read a wider window so other keys' jobs do not crowd them out.
            records = try await runner.store.recent(limit: client == nil || client?.name == KeyRing.admin.name ? limit : limit * 10)
        } catch {
            throw ProxyError.jobStoreUnavailable(error.description)
        }
        let visible = records.filter { Self.visible($0, to: client) }.prefix(limit).map { JobView($0, durable: runner.store.isDurable) }
        struct List: Encodable {
            var object = "list"
            var durable: Bool
            var data: [JobView]
        }
        return Response(
            status: .ok, headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: JSONResponse.encode(List(durable: runner.store.isDurable, data: Array(visible)))))
        )
    }

    // MARK: - Helpers

    /// The job named in the path, when it exists and the caller may see it (404 otherwise: another key's job is not revealed).
    private func job(_ request: Request, _ context: AppRequestContext) async throws -> JobRecord {
        let client = try rerank.authenticate(request, runtime: pipeline.runtime.current, dialect: .documents, spendsToken: false)
        let id = context.parameters.get("id") ?? ""
        let found: JobRecord?
        do {
            found = try await runner.store.job(id)
        } catch {
            throw ProxyError.jobStoreUnavailable(error.description)
        }
        guard var record = found, Self.visible(record, to: client) else { throw ProxyError.jobNotFound(id) }
        if !record.status.isFinished, runner.isCancelling(id) { record.status = .cancelled }
        return record
    }

    static func visible(_ record: JobRecord, to client: KeyRing.Client?) -> Bool {
        guard let client, client.name != KeyRing.admin.name else { return true }
        return record.owner == client.name
    }

    /// Every result from `offset` (at most `limit`), one JSON value per line, read from the store a page at a time.
    private func lines(of record: JobRecord, from offset: Int, limit: Int?) -> Response {
        let store = runner.store
        let end = limit.map { min(record.requests, offset + max(0, $0)) } ?? record.requests
        let body = ResponseBody { writer in
            var next = offset
            while next < end {
                let page = try await store.results(of: record.id, offset: next, limit: min(Self.defaultPage, end - next))
                if page.isEmpty { break }
                var buffer = ByteBuffer()
                buffer.reserveCapacity(page.reduce(0) { $0 + $1.count + 1 })
                for result in page {
                    buffer.writeBytes(result)
                    buffer.writeInteger(UInt8(ascii: "\n"))
                }
                try await writer.write(buffer)
                next += page.count
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: Self.ndjson], body: body)
    }
}

/// A job as the API shows it (without its results).
struct JobView: Encodable {
    struct Progress: Encodable {
        var total_pairs: Int
        var done_pairs: Int
        var from_cache: Int
        var scored: Int
        var requests: Int
        var requests_done: Int
        var retry_rounds: Int
    }

    var id: String
    var object = "rerank.job"
    var model: String
    var status: String
    var status_url: String
    var created_at: Int64
    var updated_at: Int64
    var progress: Progress
    var failed_requests: [JobFailure]
    var error: String?
    /// `false` when the proxy keeps jobs in memory only (`cache.store: none`): a restart loses them.
    var durable: Bool

    init(_ record: JobRecord, durable: Bool) {
        id = record.id
        model = record.model
        status = record.status.rawValue
        status_url = "/v1/rerank/jobs/\(record.id)"
        created_at = record.createdAt
        updated_at = record.updatedAt
        progress = Progress(
            total_pairs: record.totalPairs, done_pairs: record.donePairs, from_cache: record.fromCache, scored: record.scored,
            requests: record.requests, requests_done: record.requestsDone, retry_rounds: record.retryRounds
        )
        failed_requests = record.failures
        error = record.error
        self.durable = durable
    }
}
