import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import RerankCore

/// A backend reached over HTTP with AsyncHTTPClient (which pools the connections).
/// ```swift
/// let client = HTTPBackendClient(configuration: .init(name: "gpu-0", api: .cohere, url: "http://127.0.0.1:8000",
///                                                     model: "bge-reranker-v2-m3"), httpClient: .shared)
/// ```
public struct HTTPBackendClient: BackendClient, HealthProbing, BatchLimitDiscovering {
    public struct Configuration: Sendable {
        public var name: String
        public var api: BackendAPI
        /// Scheme, host and port (and any prefix), without the rerank path.
        public var url: String
        /// Overrides the API's default path (Infinity serves `/rerank`).
        public var path: String?
        /// Sent as `Authorization: Bearer …`; never logged.
        public var apiKey: String?
        /// The model name the backend serves (defaults to the proxy's model name).
        public var model: String
        public var timeout: Duration
        /// GET path answering 2xx when the backend is up (vLLM, TEI, Infinity and the ONNX worker serve `/health`).
        public var healthPath: String

        public init(
            name: String, api: BackendAPI, url: String, path: String? = nil, apiKey: String? = nil,
            model: String, timeout: Duration = .seconds(30), healthPath: String = "/health"
        ) {
            self.healthPath = healthPath
            self.name = name
            self.api = api
            self.url = url
            self.path = path
            self.apiKey = apiKey
            self.model = model
            self.timeout = timeout
        }

        var base: String {
            var base = url
            while base.hasSuffix("/") { base.removeLast() }
            return base
        }

        var endpoint: String { base + (path ?? api.defaultPath) }
    }

    public let configuration: Configuration
    let httpClient: HTTPClient
    private let endpoint: String

    public init(configuration: Configuration, httpClient: HTTPClient) {
        self.configuration = configuration
        self.httpClient = httpClient
        self.endpoint = configuration.endpoint
    }

    public var name: String { configuration.name }

    public var timeout: Duration { configuration.timeout }

    /// One exchange, head and body, bounded as a whole by `configuration.timeout`: AsyncHTTPClient's own
    /// deadline ends at the response head, so a backend that sends 200 headers and stalls would otherwise
    /// hold the call (and every request coalesced on it) forever.
    public func score(query: String, documents: [String], settings: ScoreSettings, logger: Logger) async throws(BackendError) -> BackendReply {
        let body = configuration.api.encodeRequest(model: configuration.model, query: query, documents: documents, settings: settings)
        return try await send(body, count: documents.count, logger: logger)
    }

    /// `api: vllm` only: its `/score` pairs `text_1[i]` with `text_2[i]`, so misses of different requests share a call.
    public var scoresMixedQueries: Bool { configuration.api == .vllm }

    /// One `/score` call with a query per document (`api: vllm`); other APIs make one call per run of equal queries.
    public func score(queries: [String], documents: [String], settings: ScoreSettings, logger: Logger) async throws(BackendError) -> BackendReply {
        guard configuration.api == .vllm else {
            return try await scoreEachQuery(queries: queries, documents: documents, settings: settings, logger: logger)
        }
        let body = configuration.api.encodeRequest(model: configuration.model, queries: queries, documents: documents, settings: settings)
        return try await send(body, count: documents.count, logger: logger)
    }

    private func send(_ body: [UInt8], count: Int, logger: Logger) async throws(BackendError) -> BackendReply {
        var request = HTTPClientRequest(url: endpoint)
        request.method = .POST
        request.headers.add(name: "content-type", value: "application/json")
        request.headers.add(name: "accept", value: "application/json")
        if let apiKey = configuration.apiKey, !apiKey.isEmpty {
            request.headers.add(name: "authorization", value: "Bearer \(apiKey)")
        }
        request.body = .bytes(ByteBuffer(bytes: body))

        let name = self.name
        let exchanged = await exchange(request, timeout: configuration.timeout, maxBytes: 64 << 20, logger: logger)
        let status: HTTPResponseStatus
        let payload: ByteBuffer
        switch exchanged {
        case .none:
            throw .timeout(backend: name)
        case .some(.failure(let error as HTTPClientError)) where error == .deadlineExceeded || error == .readTimeout:
            throw .timeout(backend: name)
        case .some(.failure(let error)):
            throw .unreachable(backend: name, reason: "\(error)")
        case .some(.success(let response)):
            (status, payload) = response
        }
        guard (200..<300).contains(Int(status.code)) else {
            throw .status(backend: name, code: Int(status.code), message: Self.errorMessage(payload))
        }
        do {
            return try configuration.api.decodeResponse(Data(buffer: payload), count: count)
        } catch {
            throw .invalidResponse(backend: name, reason: error.reason)
        }
    }

    /// Sends `request` and reads the whole body within `timeout`; `nil` when the deadline passed first.
    private func exchange(
        _ request: HTTPClientRequest, timeout: Duration, maxBytes: Int, logger: Logger
    ) async -> Result<(HTTPResponseStatus, ByteBuffer), any Error>? {
        let httpClient = self.httpClient
        let deadline = NIODeadline.now() + TimeAmount(timeout)
        return await Deadline.race(sleep: { try await Task.sleep(for: timeout) }) {
            do {
                let response = try await httpClient.execute(request, deadline: deadline, logger: logger)
                let payload = try await response.body.collect(upTo: maxBytes)
                return .success((response.status, payload))
            } catch {
                return .failure(error)
            }
        }
    }

    /// `true` when the health endpoint answers 2xx, body included, within 2 s.
    public func probe(logger: Logger) async -> Bool {
        var request = HTTPClientRequest(url: configuration.base + configuration.healthPath)
        if let apiKey = configuration.apiKey, !apiKey.isEmpty {
            request.headers.add(name: "authorization", value: "Bearer \(apiKey)")
        }
        guard case .success(let (status, _))? = await exchange(request, timeout: .seconds(2), maxBytes: 1 << 20, logger: logger) else { return false }
        return (200..<300).contains(Int(status.code))
    }

    /// TEI (and the ONNX worker) publish `max_client_batch_size` at `GET /info` and refuse bigger calls with 422;
    /// cohere-style backends publish nothing, so they answer `nil`. Bounded as a whole by 2 s.
    public func discoverBatchLimit(logger: Logger) async -> Int? {
        guard configuration.api == .tei else { return nil }
        var request = HTTPClientRequest(url: configuration.base + "/info")
        if let apiKey = configuration.apiKey, !apiKey.isEmpty {
            request.headers.add(name: "authorization", value: "Bearer \(apiKey)")
        }
        guard case .success(let (status, body))? = await exchange(request, timeout: .seconds(2), maxBytes: 1 << 20, logger: logger),
            (200..<300).contains(Int(status.code)),
            let info = try? JSONSerialization.jsonObject(with: Data(buffer: body)) as? [String: Any],
            let limit = info["max_client_batch_size"] as? Int, limit > 0
        else { return nil }
        return limit
    }

    /// The backend's own error message when it sent one of the known shapes, else a short excerpt.
    static func errorMessage(_ payload: ByteBuffer) -> String {
        let text = String(buffer: payload)
        if let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] {
            if let error = object["error"] as? [String: Any], let message = error["message"] as? String { return message }
            for key in ["message", "error", "detail"] {
                if let message = object[key] as? String { return message }
            }
        }
        return String(text.prefix(300))
    }
}

extension TimeAmount {
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
