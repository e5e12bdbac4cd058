import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import RerankCore

/// The proxy's batch and jobs endpoints over AsyncHTTPClient, with retries (``RetryPolicy``), the API key
/// as a Bearer token, and errors that say which call failed and what the server said.
///
/// ```swift
/// let api = ProxyAPI(url: "http://127.0.0.1:8080", apiKey: nil)
/// let results = try await api.batch(model: "bge", lines: lines)   // one RawJSON per request, in order
/// ```
public struct ProxyAPI: Sendable {
    public let base: String
    let apiKey: String?
    let retry: RetryPolicy
    let timeout: Duration
    let time: TimeSource
    let client: HTTPClient
    /// Told about each retry (a line for the progress reporter).
    let onRetry: @Sendable (String) -> Void

    public init(
        url: String, apiKey: String?, retry: RetryPolicy = .init(), timeout: Duration = .seconds(600), time: TimeSource = .continuous,
        client: HTTPClient = .shared, onRetry: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        var base = url
        while base.hasSuffix("/") { base.removeLast() }
        self.base = base
        self.apiKey = apiKey
        self.retry = retry
        self.timeout = timeout
        self.time = time
        self.client = client
        self.onRetry = onRetry
    }

    /// A final answer: any status the retry policy does not retry (or the last one when attempts ran out).
    struct Reply {
        var status: Int
        var body: [UInt8]
        var ok: Bool { (200..<300).contains(status) }
    }

    // MARK: - Endpoints

    /// `POST /v1/rerank/batch`: one documents-dialect response per line, in order.
    /// - Throws: ``ClientError/http(status:message:context:)`` when refused (413 included: the caller splits).
    public func batch(model: String?, lines: [Data], context: String) async throws -> [RawJSON] {
        let reply = try await send(.POST, "/v1/rerank/batch", body: Self.body(model: model, lines: lines), context: context)
        guard reply.ok else { throw error(reply, context: context) }
        return try results(reply.body, expected: lines.count, context: context)
    }

    /// `POST /v1/rerank/jobs`: the new job's id. Every attempt carries the same `Idempotency-Key`, so a retry after
    /// a lost answer names the job the first attempt created instead of creating a second one.
    public func submitJob(model: String?, lines: [Data], context: String) async throws -> String {
        let reply = try await send(
            .POST, "/v1/rerank/jobs", body: Self.body(model: model, lines: lines), headers: [("Idempotency-Key", UUID().uuidString)], context: context
        )
        if reply.status == 404, reply.body.isEmpty {
            throw ClientError.http(status: 404, message: "\(base) has no /v1/rerank/jobs (an older proxy?); --mode batch may work", context: context)
        }
        guard reply.ok else { throw error(reply, context: context) }
        guard let id = (try? JSONSerialization.jsonObject(with: Data(reply.body)) as? [String: Any])?["id"] as? String, !id.isEmpty else {
            throw ClientError.transport("\(context): the answer has no job id: \(Self.excerpt(reply.body))")
        }
        return id
    }

    /// What `GET /v1/rerank/jobs/{id}` says about a job.
    public struct JobState: Sendable, Equatable {
        public struct Failure: Sendable, Equatable {
            public var index: Int
            public var status: Int
            public var message: String
        }

        public var status: String
        /// Pairs done (from cache or scored) and in all, when the server says.
        public var done: Int?
        public var total: Int?
        public var message: String?
        /// Requests the job could not score (`failed_requests`), by their position in the job.
        public var failures: [Failure] = []
    }

    /// The job's state; `nil` when the server does not know it (404: expired, or another server's).
    public func job(_ id: String) async throws -> JobState? {
        let context = "GET job \(id)"
        let reply = try await send(.GET, "/v1/rerank/jobs/\(id)?offset=0&limit=0", context: context)
        if reply.status == 404 { return nil }
        guard reply.ok else { throw error(reply, context: context) }
        guard let object = (try? JSONSerialization.jsonObject(with: Data(reply.body))) as? [String: Any], let status = object["status"] as? String else {
            throw ClientError.transport("\(context): not a job status: \(Self.excerpt(reply.body))")
        }
        let progress = object["progress"] as? [String: Any] ?? [:]
        func int(_ key: String) -> Int? { (progress[key] as? NSNumber)?.intValue }
        let error = object["error"]
        let message = (error as? String) ?? ((error as? [String: Any])?["message"] as? String) ?? (object["message"] as? String)
        let failures = (object["failed_requests"] as? [[String: Any]] ?? []).map { failure in
            JobState.Failure(index: failure["index"] as? Int ?? 0, status: failure["status"] as? Int ?? 0, message: failure["message"] as? String ?? "")
        }
        return JobState(status: status, done: int("done_pairs"), total: int("total_pairs"), message: message, failures: failures)
    }

    /// One page of a finished job's results (`?offset=&limit=`).
    public func jobResults(_ id: String, offset: Int, limit: Int) async throws -> [RawJSON] {
        let context = "GET job \(id) results from \(offset)"
        let reply = try await send(.GET, "/v1/rerank/jobs/\(id)?offset=\(offset)&limit=\(limit)", context: context)
        guard reply.ok else { throw error(reply, context: context) }
        return try results(reply.body, expected: nil, context: context)
    }

    // MARK: - Transport

    static func body(model: String?, lines: [Data]) -> [UInt8] {
        var body: [UInt8] = []
        body.reserveCapacity(lines.reduce(32) { $0 + $1.count + 1 } + (model?.utf8.count ?? 0))
        body += Array("{".utf8)
        if let model, let name = try? JSONSerialization.data(withJSONObject: [model], options: [.fragmentsAllowed]) {
            // ["name"] → "name", escaped by Foundation.
            body += Array("\"model\":".utf8) + Array(name.dropFirst().dropLast()) + Array(",".utf8)
        }
        body += Array("\"requests\":[".utf8)
        for (index, line) in lines.enumerated() {
            if index > 0 { body.append(UInt8(ascii: ",")) }
            body += line
        }
        body += Array("]}".utf8)
        return body
    }

    /// Sends with retries (``RetryPolicy``); every attempt carries the same `headers` and body.
    func send(_ method: HTTPMethod, _ path: String, body: [UInt8]? = nil, headers: [(String, String)] = [], context: String) async throws -> Reply {
        var attempt = 0
        while true {
            attempt += 1
            try Task.checkCancellation()
            var request = HTTPClientRequest(url: base + path)
            request.method = method
            if let apiKey { request.headers.add(name: "authorization", value: "Bearer \(apiKey)") }
            for (name, value) in headers { request.headers.add(name: name, value: value) }
            if let body {
                request.headers.add(name: "content-type", value: "application/json")
                request.body = .bytes(ByteBuffer(bytes: body))
            }
            let reply: Reply
            let retryAfter: String?
            do {
                let response = try await client.execute(request, timeout: .nanoseconds(timeout.components.seconds * 1_000_000_000))
                let buffer = try await response.body.collect(upTo: 1 << 30)
                reply = Reply(status: Int(response.status.code), body: Array(buffer: buffer))
                retryAfter = response.headers.first(name: "retry-after")
            } catch {
                try Task.checkCancellation()
                guard let delay = retry.delay(after: .connectionError, attempt: attempt) else {
                    throw ClientError.transport("\(context): cannot reach \(base) after \(attempt) attempts: \(error)")
                }
                onRetry("\(context): \(error); retrying in \(ProgressMeter.duration(delay))")
                try await time.sleep(for: delay)
                continue
            }
            guard let delay = retry.delay(after: .status(reply.status, retryAfter: retryAfter), attempt: attempt) else { return reply }
            onRetry("\(context): HTTP \(reply.status); retrying in \(ProgressMeter.duration(delay))")
            try await time.sleep(for: delay)
        }
    }

    private func results(_ body: [UInt8], expected: Int?, context: String) throws -> [RawJSON] {
        guard let results = RawJSON.member("results", in: body)?.arrayElements else {
            throw ClientError.transport("\(context): the answer has no results array: \(Self.excerpt(body))")
        }
        if let expected, results.count != expected {
            throw ClientError.transport("\(context): \(results.count) results for \(expected) requests")
        }
        return results
    }

    func error(_ reply: Reply, context: String) -> ClientError {
        let object = (try? JSONSerialization.jsonObject(with: Data(reply.body))) as? [String: Any]
        let error = object?["error"]
        let message =
            ((error as? [String: Any])?["message"] as? String) ?? (error as? String) ?? (object?["message"] as? String)
            ?? Self.excerpt(reply.body)
        return .http(status: reply.status, message: message, context: context)
    }

    static func excerpt(_ body: [UInt8]) -> String {
        guard !body.isEmpty else { return "(no body)" }
        let text = String(decoding: body.prefix(300), as: UTF8.self)
        return body.count > 300 ? text + "…" : text
    }
}
