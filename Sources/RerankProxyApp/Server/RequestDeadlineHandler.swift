import Foundation
import HTTPTypes
import Logging
import NIOCore
import NIOHTTPTypes

/// Enforces ``RequestDeadlines`` on one HTTP/1 connection: a whole request head within `server.header_timeout`, a
/// whole body within `server.body_timeout`, and closing the connection after a response with `Connection: close`.
///
/// It sits after Hummingbird's HTTP/1 codec (``ServerLimits`` passes it as `additionalChannelHandlers`), where it
/// sees `HTTPRequestPart`s and `HTTPResponsePart`s. A head that is still being trickled produces no part, so when added
/// it also puts a ``ByteTap`` at the front of the pipeline, which reports raw bytes before the HTTP decoder: the first
/// byte of a later request on a keep-alive connection starts that request's header timer.
///
/// A timer that fires closes the connection without an answer (nginx does the same for its header and body timeouts).
/// After a `Connection: close` answer the output is closed, so the client reads the answer and then EOF, and whatever
/// it still sends is read and dropped for ``lingerTimeout`` at most, never handed to the application: closing with
/// unread data would send a reset that can destroy the answer before the client reads it (nginx's lingering close).
///
/// Not Sendable: it lives on its channel's event loop, like every handler.
final class RequestDeadlineHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    /// How long a connection with its output closed keeps reading and dropping what the client sends.
    static let lingerTimeout = TimeAmount.seconds(2)

    private let headerTimeout: TimeAmount
    private let bodyTimeout: TimeAmount
    private let logger: Logger
    private var deadlines = RequestDeadlines()
    private var timer: Scheduled<Void>?
    private var context: ChannelHandlerContext?
    /// Set by a response head with `Connection: close`; applied at that response's end.
    private var closeAfterResponse = false

    init(headerTimeout: TimeAmount, bodyTimeout: TimeAmount, logger: Logger) {
        self.headerTimeout = headerTimeout
        self.bodyTimeout = bodyTimeout
        self.logger = logger
    }

    // MARK: - Lifecycle

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        do {
            try context.pipeline.syncOperations.addHandler(ByteTap(owner: self), position: .first)
        } catch {
            logger.warning("cannot watch request heads on this connection; closing it", metadata: ["error.type": "\(error)"])
            context.close(promise: nil)
            return
        }
        if context.channel.isActive { run(deadlines.connectionOpened()) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        cancelTimer()
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        run(deadlines.connectionOpened())
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        cancelTimer()
        context.fireChannelInactive()
    }

    // MARK: - Events

    /// Called by ``ByteTap`` for every read, before the bytes are decoded.
    fileprivate func bytesReceived() {
        run(deadlines.bytesReceived())
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head: run(deadlines.requestHead())
        case .body: break
        case .end: run(deadlines.requestEnd())
        }
        if deadlines.forwardsRequestParts { context.fireChannelRead(data) }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // The client closed its side while we linger: nothing more to wait for.
        if case ChannelEvent.inputClosed = event, !deadlines.forwardsRequestParts {
            context.close(promise: nil)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(let head):
            if head.status.kind != .informational, Self.saysClose(head.headerFields) { closeAfterResponse = true }
            context.write(data, promise: promise)
        case .body:
            context.write(data, promise: promise)
        case .end:
            let close = closeAfterResponse
            closeAfterResponse = false
            switch deadlines.responseEnd(closeConnection: close) {
            case .closeOutputThenLinger:
                let written = promise ?? context.eventLoop.makePromise()
                context.writeAndFlush(data, promise: written)
                written.futureResult.hop(to: context.eventLoop).assumeIsolated().whenComplete { _ in
                    self.closeOutputAndLinger()
                }
            case let action:
                run(action)
                context.write(data, promise: promise)
            }
        }
    }

    /// Whether a `Connection` field lists the `close` option.
    static func saysClose(_ fields: HTTPFields) -> Bool {
        fields[values: .connection].contains { value in
            value.split(separator: ",").contains { $0.trimmingCharacters(in: .whitespaces).lowercased() == "close" }
        }
    }

    // MARK: - Timers

    private func run(_ action: RequestDeadlines.Action) {
        switch action {
        case .none: break
        case .disarm: cancelTimer()
        case .arm(let kind): arm(kind)
        case .closeOutputThenLinger: closeOutputAndLinger()
        }
    }

    private func arm(_ kind: RequestDeadlines.Timer) {
        cancelTimer()
        guard let context else { return }
        let delay: TimeAmount =
            switch kind {
            case .header: headerTimeout
            case .body: bodyTimeout
            case .linger: Self.lingerTimeout
            }
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: delay) {
            self.timer = nil
            switch kind {
            case .header: self.logger.debug("closing connection: request head not complete within server.header_timeout")
            case .body: self.logger.debug("closing connection: request body not complete within server.body_timeout")
            case .linger: break
            }
            context.close(promise: nil)
        }
    }

    private func closeOutputAndLinger() {
        guard let context, context.channel.isActive else { return }
        context.close(mode: .output, promise: nil)
        arm(.linger)
    }

    private func cancelTimer() {
        timer?.cancel()
        timer = nil
    }
}

@available(*, unavailable)
extension RequestDeadlineHandler: Sendable {}

/// Reports every read to its ``RequestDeadlineHandler`` before the HTTP decoder sees the bytes, and passes them on.
final class ByteTap: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let owner: RequestDeadlineHandler

    fileprivate init(owner: RequestDeadlineHandler) {
        self.owner = owner
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        owner.bytesReceived()
        context.fireChannelRead(data)
    }
}

@available(*, unavailable)
extension ByteTap: Sendable {}
