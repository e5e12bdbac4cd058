import Foundation
import NIOCore
import NIOPosix
import Synchronization

/// A loopback TCP client that sends raw bytes and sees exactly what comes back, including when the server closes:
/// for slow, partial, oversized and pipelined requests that an HTTP client library would not send.
///
/// ```swift
/// let connection = try await RawConnection.connect(port: port)
/// try await connection.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
/// let response = try await connection.readResponse()
/// ```
final class RawConnection: Sendable {
    /// One parsed HTTP/1.1 response.
    struct Response: Sendable {
        var status: Int
        /// Lower-cased field names.
        var headers: [String: String]
        var body: Data
        var object: [String: Any] { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:] }
    }

    struct Timeout: Error, CustomStringConvertible {
        var what: String
        var description: String { "timed out waiting for \(what)" }
    }

    private let channel: any Channel
    private let inbox: Inbox

    private init(channel: any Channel, inbox: Inbox) {
        self.channel = channel
        self.inbox = inbox
    }

    static func connect(port: Int) async throws -> RawConnection {
        let inbox = Inbox()
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(Collector(inbox: inbox)) }
            }
            .connect(host: "127.0.0.1", port: port)
            .get()
        return RawConnection(channel: channel, inbox: inbox)
    }

    func send(_ text: String) async throws {
        try await channel.writeAndFlush(ByteBuffer(string: text)).get()
    }

    /// Closes our side; no-op when already closed.
    func close() async {
        try? await channel.close()
    }

    /// Whether the server has closed (EOF or reset).
    var isClosed: Bool { inbox.state.withLock { $0.closed } }

    /// Everything received and not yet consumed by ``readResponse(within:)``.
    var unread: Data { inbox.state.withLock { Data($0.received) } }

    /// Waits until the server closes the connection; returns how long that took from now, or nil after `timeout`.
    func waitForClose(within timeout: Duration) async throws -> Duration? {
        let clock = ContinuousClock()
        let start = clock.now
        while clock.now - start < timeout {
            if isClosed { return clock.now - start }
            try await Task.sleep(for: .milliseconds(5))
        }
        return isClosed ? clock.now - start : nil
    }

    /// Waits for one complete response (head and `Content-Length` body) and consumes it.
    /// - Throws: ``Timeout`` when none is complete within `timeout` (the connection may have closed).
    func readResponse(within timeout: Duration = .seconds(10)) async throws -> Response {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while clock.now < deadline {
            if let response = inbox.state.withLock({ Self.takeResponse(from: &$0.received) }) { return response }
            if isClosed { break }
            try await Task.sleep(for: .milliseconds(5))
        }
        if let response = inbox.state.withLock({ Self.takeResponse(from: &$0.received) }) { return response }
        throw Timeout(what: "a response (closed: \(isClosed), \(unread.count) bytes unread)")
    }

    private static func takeResponse(from bytes: inout [UInt8]) -> Response? {
        let separator: [UInt8] = Array("\r\n\r\n".utf8)
        guard let headEnd = bytes.indices.dropLast(3).first(where: { Array(bytes[$0..<$0 + 4]) == separator }) else { return nil }
        let lines = String(decoding: bytes[..<headEnd], as: UTF8.self).components(separatedBy: "\r\n")
        let statusParts = lines[0].split(separator: " ")
        guard statusParts.count >= 2, let status = Int(statusParts[1]) else { return nil }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        let length = headers["content-length"].flatMap(Int.init) ?? 0
        let bodyStart = headEnd + 4
        guard bytes.count >= bodyStart + length else { return nil }
        let body = Data(bytes[bodyStart..<bodyStart + length])
        bytes.removeFirst(bodyStart + length)
        return Response(status: status, headers: headers, body: body)
    }
}

/// What a ``RawConnection`` received, shared between its channel handler and the test.
private final class Inbox: Sendable {
    struct State {
        var received: [UInt8] = []
        var closed = false
    }

    let state = Mutex(State())
}

/// Appends every read to the inbox and records the close (EOF or reset: NIO closes the client channel on both).
private final class Collector: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    let inbox: Inbox

    init(inbox: Inbox) {
        self.inbox = inbox
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        inbox.state.withLock { $0.received += buffer.readableBytesView }
    }

    func channelInactive(context: ChannelHandlerContext) {
        inbox.state.withLock { $0.closed = true }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
