import Foundation
import RerankProxyApp
import ServiceLifecycle
import Synchronization
import Testing

/// Slow and abusive clients over real loopback sockets: header and body timeouts, idle keep-alive connections, the
/// connection cap, the buffered-body budget, closing after 413, and 415 for encoded bodies. Timeouts are a few hundred
/// milliseconds, so each test takes about a second.
@Suite(.serialized) struct SlowClientTests {
    /// A policy whose backend is never called (requests here are refused or answered without it) unless given.
    func policy(backendURL: String = "http://127.0.0.1:9", _ configure: (inout ServerConfig) -> Void) -> PolicyConfig {
        var policy = testPolicy(backends: [BackendConfig(name: "fake-0", url: backendURL)], store: .none, maxBodyBytes: 1000)
        policy.server.headerTimeout = DurationValue(.seconds(10), text: "10s")
        policy.server.bodyTimeout = DurationValue(.seconds(10), text: "10s")
        policy.server.idleTimeout = DurationValue(.seconds(10), text: "10s")
        configure(&policy.server)
        return policy
    }

    static let healthz = "GET /healthz HTTP/1.1\r\nHost: proxy\r\n\r\n"

    static func post(_ path: String = "/v1/rerank", contentLength: Int, extraHeaders: String = "") -> String {
        "POST \(path) HTTP/1.1\r\nHost: proxy\r\nContent-Type: application/json\r\nContent-Length: \(contentLength)\r\n\(extraHeaders)\r\n"
    }

    // MARK: - Header and body timeouts

    @Test func headerTricklingClientIsClosedAfterHeaderTimeout() async throws {
        let timeout = Duration.milliseconds(400)
        try await withRunningProxy(policy { $0.headerTimeout = DurationValue(timeout, text: "400ms") }) { proxy in
            let connection = try await proxy.connect()
            let clock = ContinuousClock()
            let start = clock.now
            try await connection.send("POST /v1/rerank HTTP/1.1\r\nHost: proxy\r\n")
            // One byte of an endless header every 100 ms: activity, but the head never completes.
            while !connection.isClosed, clock.now - start < .seconds(5) {
                try? await connection.send("X")
                try await Task.sleep(for: .milliseconds(100))
            }
            let elapsed = clock.now - start
            #expect(connection.isClosed, "a header-trickling client is still connected after 5 s")
            #expect(elapsed >= timeout * 0.8, "closed after \(elapsed), before header_timeout")
            #expect(elapsed < timeout * 3, "closed after \(elapsed)")
            #expect(connection.unread.isEmpty, "no answer is written to an incomplete head")
        }
    }

    @Test func headerTimeoutAlsoCoversLaterRequestsOnAKeepAliveConnection() async throws {
        try await withRunningProxy(policy { $0.headerTimeout = DurationValue(.milliseconds(400), text: "400ms") }) { proxy in
            let connection = try await proxy.connect()
            try await connection.send(Self.healthz)
            #expect(try await connection.readResponse().status == 200)
            // Idle for longer than header_timeout is fine (idle_timeout governs) ...
            try await Task.sleep(for: .milliseconds(600))
            #expect(!connection.isClosed)
            // ... but once a second head starts, it must complete within header_timeout.
            try await connection.send("GET /healthz HTTP/1.1\r\nHost: pro")
            let closedAfter = try await connection.waitForClose(within: .seconds(3))
            #expect(closedAfter != nil && closedAfter! < .milliseconds(1200), "closed after \(String(describing: closedAfter))")
        }
    }

    @Test func stalledBodyIsClosedAfterBodyTimeout() async throws {
        let timeout = Duration.milliseconds(400)
        try await withRunningProxy(policy { $0.bodyTimeout = DurationValue(timeout, text: "400ms") }) { proxy in
            let connection = try await proxy.connect()
            try await connection.send(Self.post(contentLength: 500) + #"{"query":"q","documents":["#)
            let closedAfter = try await connection.waitForClose(within: .seconds(5))
            let elapsed = try #require(closedAfter, "a stalled body is still held after 5 s")
            #expect(elapsed >= timeout * 0.8, "closed after \(elapsed), before body_timeout")
            #expect(elapsed < timeout * 3, "closed after \(elapsed)")
        }
    }

    @Test func idleKeepAliveConnectionIsClosedAfterIdleTimeout() async throws {
        let timeout = Duration.milliseconds(400)
        try await withRunningProxy(policy { $0.idleTimeout = DurationValue(timeout, text: "400ms") }) { proxy in
            let connection = try await proxy.connect()
            try await connection.send(Self.healthz)
            #expect(try await connection.readResponse().status == 200)
            let closedAfter = try await connection.waitForClose(within: .seconds(5))
            let elapsed = try #require(closedAfter, "an idle keep-alive connection is still open after 5 s")
            #expect(elapsed >= timeout * 0.5, "closed after \(elapsed), well before idle_timeout")
            #expect(elapsed < timeout * 3, "closed after \(elapsed)")
        }
    }

    @Test func keepAliveAndPipelinedRequestsStillWork() async throws {
        let fake = FakeRerankBackend()
        try await fake.run { url in
            let policy = policy(backendURL: url) { $0.headerTimeout = DurationValue(.milliseconds(400), text: "400ms") }
            try await withRunningProxy(policy) { proxy in
                let connection = try await proxy.connect()
                let body = jsonText(["query": "q", "documents": ["a", "b"]])
                for round in 0..<3 {
                    try await connection.send(Self.post(contentLength: body.utf8.count) + body)
                    let reply = try await connection.readResponse()
                    #expect(reply.status == 200, "round \(round): \(String(decoding: reply.body, as: UTF8.self))")
                    #expect((reply.object["results"] as? [Any])?.count == 2)
                    // Longer than header_timeout between requests: an idle keep-alive connection is not a slow head.
                    try await Task.sleep(for: .milliseconds(round == 0 ? 500 : 10))
                }
                // Two requests in one write are answered in order.
                try await connection.send(Self.healthz + Self.post(contentLength: body.utf8.count) + body)
                #expect(try await connection.readResponse().status == 200)
                #expect(try await connection.readResponse().status == 200)
                #expect(!connection.isClosed)
                #expect(fake.calls == 1, "the repeated pair set is served from the cache")
            }
        }
    }

    // MARK: - Answers that close the connection

    @Test func contentLengthOverTheLimitGets413AndTheConnectionIsClosed() async throws {
        try await withRunningProxy(policy { _ in }) { proxy in
            let connection = try await proxy.connect()
            // Announce 100 MB, send a little, then wait: the answer must not wait for (or read) the rest.
            try await connection.send(Self.post(contentLength: 100 << 20) + String(repeating: "x", count: 1024))
            let reply = try await connection.readResponse(within: .seconds(5))
            #expect(reply.status == 413)
            #expect(reply.headers["connection"] == "close")
            #expect((reply.object["message"] as? String)?.contains("max_body_bytes") == true)
            let closedAfter = try await connection.waitForClose(within: .seconds(2))
            #expect(closedAfter != nil, "the connection is still open after a 413")
        }
    }

    @Test func chunkedBodyOverTheLimitGets413AndTheConnectionIsClosed() async throws {
        try await withRunningProxy(policy { _ in }) { proxy in
            let connection = try await proxy.connect()
            let chunk = String(repeating: "y", count: 1500)
            // No terminating chunk: the client would go on sending.
            try await connection.send(
                "POST /v2/rerank HTTP/1.1\r\nHost: proxy\r\nTransfer-Encoding: chunked\r\n\r\n"
                    + String(chunk.utf8.count, radix: 16) + "\r\n" + chunk + "\r\n"
            )
            let reply = try await connection.readResponse(within: .seconds(5))
            #expect(reply.status == 413)
            #expect(reply.headers["connection"] == "close")
            let closedAfter = try await connection.waitForClose(within: .seconds(2))
            #expect(closedAfter != nil, "the connection is still open after a 413")
        }
    }

    @Test func encodedBodyGets415() async throws {
        try await withRunningProxy(policy { _ in }) { proxy in
            let connection = try await proxy.connect()
            let body = "\u{1f}\u{8b} not really gzip"
            try await connection.send(Self.post(contentLength: body.utf8.count, extraHeaders: "Content-Encoding: gzip\r\n") + body)
            let reply = try await connection.readResponse()
            #expect(reply.status == 415)
            #expect(reply.headers["content-type"] == "application/json")
            #expect(reply.headers["accept-encoding"] == "identity")
            let error = try #require(reply.object["error"] as? [String: Any])
            #expect(error["type"] as? String == "UnsupportedMediaTypeError")
            #expect(error["code"] as? Int == 415)
            #expect((reply.object["message"] as? String)?.contains("gzip") == true)

            // identity is no encoding at all.
            let plain = try await proxy.connect()
            let empty = #"{"query":"q","documents":[]}"#
            try await plain.send(Self.post(contentLength: empty.utf8.count, extraHeaders: "Content-Encoding: identity\r\n") + empty)
            #expect(try await plain.readResponse().status == 200)
        }
    }

    // MARK: - Shared limits

    @Test func connectionsPastMaxConnectionsWaitUntilOneCloses() async throws {
        try await withRunningProxy(policy { $0.maxConnections = 4 }) { proxy in
            var open: [RawConnection] = []
            for _ in 0..<4 {
                let connection = try await proxy.connect()
                try await connection.send(Self.healthz)
                #expect(try await connection.readResponse().status == 200)
                open.append(connection)
            }
            // The fifth is not accepted: it sits in the listen backlog and is not served ...
            let fifth = try await proxy.connect()
            try await fifth.send(Self.healthz)
            await #expect(throws: RawConnection.Timeout.self) { try await fifth.readResponse(within: .milliseconds(500)) }
            // ... while the connections already open are.
            try await open[0].send(Self.healthz)
            #expect(try await open[0].readResponse().status == 200)

            // Closing two lets the fifth in and one more after it.
            await open[1].close()
            await open[2].close()
            #expect(try await fifth.readResponse(within: .seconds(3)).status == 200)
            let sixth = try await proxy.connect()
            try await sixth.send(Self.healthz)
            #expect(try await sixth.readResponse(within: .seconds(3)).status == 200)
        }
    }

    @Test func bodiesPastTheBufferedBudgetGet503WithRetryAfter() async throws {
        try await withRunningProxy(policy { $0.maxBufferedBodyBytes = 1500 }) { proxy in
            // The first request holds 1000 bytes of budget while its body is slowly sent.
            let body = jsonText(["query": "q", "documents": [String]()])
            let padded = body + String(repeating: " ", count: 1000 - body.utf8.count)
            let first = try await proxy.connect()
            try await first.send(Self.post(contentLength: 1000) + padded.prefix(10))
            try await Task.sleep(for: .milliseconds(100))

            let second = try await proxy.connect()
            try await second.send(Self.post(contentLength: 1000) + padded)
            let refused = try await second.readResponse()
            #expect(refused.status == 503)
            #expect(refused.headers["retry-after"] == "1")
            #expect(refused.headers["connection"] == "close")
            #expect((refused.object["message"] as? String)?.contains("max_buffered_body_bytes") == true)
            #expect(try await second.waitForClose(within: .seconds(2)) != nil)

            // The first finishes; its budget comes back and the next body is taken.
            try await first.send(String(padded.dropFirst(10)))
            #expect(try await first.readResponse().status == 200)
            let third = try await proxy.connect()
            try await third.send(Self.post(contentLength: 1000) + padded)
            #expect(try await third.readResponse().status == 200)
        }
    }
}

/// Runs the proxy as `serve` does (not through HummingbirdTesting, whose `.live` mode drops
/// `availableConnectionsDelegate` and holds a connection of its own) for the duration of `body`.
/// Connections made with ``RawProxy/connect()`` are closed before the proxy shuts down, also when `body` fails,
/// so a failing test cannot leave graceful shutdown waiting on a half-sent request.
func withRunningProxy<T: Sendable>(_ policy: PolicyConfig, _ body: @Sendable (RawProxy) async throws -> T) async throws -> T {
    let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
    let app = try buildApplication(
        policy: policy,
        options: .init(logger: quietLogger, onServerRunning: { channel in continuation.yield(channel.localAddress?.port ?? 0) })
    )
    let group = ServiceGroup(configuration: .init(services: [app], gracefulShutdownSignals: [], logger: quietLogger))
    return try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask {
            defer { continuation.finish() }
            try await group.run()
        }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else {
            try await tasks.waitForAll()
            throw CancellationError()
        }
        let proxy = RawProxy(port: port)
        do {
            let result = try await body(proxy)
            await proxy.closeAll()
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            return result
        } catch {
            await proxy.closeAll()
            await group.triggerGracefulShutdown()
            try? await tasks.waitForAll()
            throw error
        }
    }
}

/// The running proxy's port, and every raw connection a test opened to it.
final class RawProxy: Sendable {
    let port: Int
    private let connections = Mutex<[RawConnection]>([])

    init(port: Int) {
        self.port = port
    }

    func connect() async throws -> RawConnection {
        let connection = try await RawConnection.connect(port: port)
        connections.withLock { $0.append(connection) }
        return connection
    }

    func closeAll() async {
        for connection in connections.withLock({ $0 }) { await connection.close() }
    }
}
