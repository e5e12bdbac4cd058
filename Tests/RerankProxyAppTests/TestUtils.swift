import AsyncHTTPClient
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import RerankCore
import RerankProxyApp
import Testing

func temporaryDirectory() -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("rerank-proxy-app-\(UUID().uuidString)").path
}

/// A policy with one model served by the given backends, SQLite in a fresh temp file unless given.
func testPolicy(
    backends: [BackendConfig],
    sqlitePath: String? = nil,
    store: CacheConfig.Store = .sqlite,
    memoryEntries: Int = 10_000,
    maxBodyBytes: Int = 1 << 20,
    maxDocuments: Int = 100
) -> PolicyConfig {
    var policy = PolicyConfig(models: [ModelConfig(name: "test-model", backends: backends)])
    policy.cache.store = store
    policy.cache.memoryEntries = memoryEntries
    policy.cache.sqlite.path = sqlitePath ?? temporaryDirectory() + "/scores.sqlite"
    policy.server.port = 0
    policy.server.maxBodyBytes = maxBodyBytes
    policy.server.maxDocuments = maxDocuments
    policy.models[0].ejectAfter = 1
    return policy
}

var quietLogger: Logger {
    var logger = Logger(label: "rerank-proxy-test")
    logger.logLevel = .critical
    return logger
}

/// Runs the real proxy over HTTP for the duration of `body`, which gets a client for it.
func withProxy<T: Sendable>(
    _ policy: PolicyConfig, timers: TimeSource = .continuous, _ body: @Sendable (ProxyClient) async throws -> T
) async throws -> T {
    let app = try buildApplication(policy: policy, options: .init(logger: quietLogger, timers: timers))
    return try await app.test(.live) { client in
        try await body(ProxyClient(base: "http://127.0.0.1:\(client.port!)"))
    }
}

/// A thin AsyncHTTPClient wrapper for talking to the proxy (many concurrent connections, unlike TestClient).
struct ProxyClient: Sendable {
    let base: String

    struct Reply: Sendable {
        var status: Int
        var body: Data
        /// Response headers, names lowercased.
        var headers: [String: String] = [:]
        func header(_ name: String) -> String? { headers[name.lowercased()] }
        var json: Any? { try? JSONSerialization.jsonObject(with: body) }
        var object: [String: Any] { json as? [String: Any] ?? [:] }
    }

    func post(_ path: String, _ json: String, timeout: TimeAmount = .seconds(30), headers: [String: String] = [:]) async throws -> Reply {
        var request = HTTPClientRequest(url: base + path)
        request.method = .POST
        request.headers.add(name: "content-type", value: "application/json")
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(string: json))
        return try await send(request, timeout: timeout)
    }

    func post(_ path: String, bytes: [UInt8], timeout: TimeAmount = .seconds(30)) async throws -> Reply {
        var request = HTTPClientRequest(url: base + path)
        request.method = .POST
        request.headers.add(name: "content-type", value: "application/json")
        request.body = .bytes(ByteBuffer(bytes: bytes))
        return try await send(request, timeout: timeout)
    }

    func post(_ path: String, object: [String: Any], timeout: TimeAmount = .seconds(30), headers: [String: String] = [:]) async throws -> Reply {
        let data = try JSONSerialization.data(withJSONObject: object)
        return try await post(path, String(decoding: data, as: UTF8.self), timeout: timeout, headers: headers)
    }

    func get(_ path: String, headers: [String: String] = [:]) async throws -> Reply {
        var request = HTTPClientRequest(url: base + path)
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        return try await send(request, timeout: .seconds(30))
    }

    func send(_ request: HTTPClientRequest, timeout: TimeAmount) async throws -> Reply {
        let response = try await HTTPClient.shared.execute(request, timeout: timeout)
        let body = try await response.body.collect(upTo: 64 << 20)
        var headers: [String: String] = [:]
        for field in response.headers { headers[field.name.lowercased()] = field.value }
        return Reply(status: Int(response.status.code), body: Data(buffer: body), headers: headers)
    }

    /// `/v1/stats` as a dictionary.
    func stats() async throws -> [String: Any] { try await get("/v1/stats").object }
}

/// Results of a documents-dialect answer as (index, score) in answer order, parsed with JSONDecoder
/// (JSONSerialization on Linux rounds doubles, which would hide or fake exactness bugs).
func results(_ reply: ProxyClient.Reply) -> [(index: Int, score: Double)] {
    struct Body: Decodable {
        struct Item: Decodable {
            var index: Int
            var relevance_score: Double
        }
        var results: [Item]
    }
    guard let body = try? JSONDecoder().decode(Body.self, from: reply.body) else { return [] }
    return body.results.map { ($0.index, $0.relevance_score) }
}

/// A TEI answer as (index, score) in answer order, parsed with JSONDecoder.
func teiResults(_ reply: ProxyClient.Reply) -> [(index: Int, score: Double)] {
    struct Item: Decodable {
        var index: Int
        var score: Double
    }
    guard let items = try? JSONDecoder().decode([Item].self, from: reply.body) else { return [] }
    return items.map { ($0.index, $0.score) }
}

func documents(_ count: Int, prefix: String = "passage") -> [String] {
    (0..<count).map { "\(prefix) \($0): " + String(repeating: "lorem ipsum ", count: 3 + $0 % 5) }
}

/// Checks an answer is every document, sorted by the fake's exact scores (bit-for-bit).
func expectExact(_ reply: ProxyClient.Reply, query: String, documents: [String], topN: Int? = nil, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(reply.status == 200, "status \(reply.status): \(String(decoding: reply.body, as: UTF8.self))", sourceLocation: sourceLocation)
    let got = results(reply)
    var expected: [(index: Int, score: Double)] = []
    for (index, document) in documents.enumerated() {
        expected.append((index, FakeRerankBackend.score(query: query, document: document)))
    }
    expected.sort { a, b in a.score > b.score || (a.score == b.score && a.index < b.index) }
    if let topN, topN < expected.count { expected.removeSubrange(topN...) }
    let gotIndices: [Int] = got.map { $0.index }
    let expectedIndices: [Int] = expected.map { $0.index }
    let gotBits: [UInt64] = got.map { $0.score.bitPattern }
    let expectedBits: [UInt64] = expected.map { $0.score.bitPattern }
    #expect(gotIndices == expectedIndices, sourceLocation: sourceLocation)
    #expect(gotBits == expectedBits, sourceLocation: sourceLocation)
}

/// A JSON text for a request body built from literals.
func jsonText(_ object: [String: Any]) -> String {
    String(decoding: (try? JSONSerialization.data(withJSONObject: object)) ?? Data(), as: UTF8.self)
}

func pairs(_ stats: [String: Any]) -> [String: Int] {
    stats["pairs"] as? [String: Int] ?? [:]
}

/// Waits until `condition` holds, checking every 5 ms (a condition, not a fixed sleep); fails after `limit`.
///
/// For state another process or socket owns (a backend's call count, Redis contents); state in this process
/// is better awaited on a continuation.
func until(_ limit: Duration = .seconds(10), sourceLocation: SourceLocation = #_sourceLocation, _ condition: @Sendable () async -> Bool) async throws {
    let deadline = ContinuousClock.now + limit
    while !(await condition()) {
        guard ContinuousClock.now < deadline else {
            Issue.record("condition not met within \(limit)", sourceLocation: sourceLocation)
            return
        }
        try await Task.sleep(for: .milliseconds(5))
    }
}
