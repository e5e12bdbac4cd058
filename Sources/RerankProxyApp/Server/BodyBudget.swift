import Hummingbird
import NIOCore
import Synchronization

/// The request-body bytes all in-flight requests may hold together (`server.max_buffered_body_bytes`).
///
/// A body is charged before it is read: its `Content-Length` at once, a chunked body chunk by chunk. The charge is
/// held until the request's handler returns, because the parsed request keeps about as many bytes alive until the
/// answer is written. A body that would pass the limit is refused without reading it.
///
/// ```swift
/// let budget = BodyBudget(limit: 256 << 20)
/// let response = try await budget.withBody(of: request, upTo: maxBodyBytes) { buffer in try await handle(buffer) }
/// ```
final class BodyBudget: Sendable {
    /// Why ``withBody(of:upTo:_:)`` did not collect the body.
    enum Refusal: Error {
        /// The body is longer than `upTo`.
        case tooLarge
        /// Taking the body would pass the budget.
        case exhausted
    }

    let limit: Int
    private let used = Atomic<Int>(0)

    init(limit: Int) {
        self.limit = limit
    }

    /// Bytes charged right now.
    var inUse: Int { used.load(ordering: .relaxed) }

    /// Collects the request body while charging it to the budget, runs `body` with it, then releases the charge.
    /// - Throws: ``Refusal`` before `body` runs; otherwise what the body stream or `body` throw.
    func withBody<T>(of request: Request, upTo maxBytes: Int, _ body: (ByteBuffer) async throws -> T) async throws -> T {
        var charged = 0
        defer { if charged > 0 { release(charged) } }
        var buffer: ByteBuffer
        if let length = request.headers[.contentLength].flatMap(Int.init), length >= 0 {
            guard length <= maxBytes else { throw Refusal.tooLarge }
            guard reserve(length) else { throw Refusal.exhausted }
            charged = length
            buffer = ByteBufferAllocator().buffer(capacity: length)
        } else {
            buffer = ByteBuffer()
        }
        for try await chunk in request.body {
            let size = buffer.readableBytes + chunk.readableBytes
            guard size <= maxBytes else { throw Refusal.tooLarge }
            if size > charged {
                guard reserve(size - charged) else { throw Refusal.exhausted }
                charged = size
            }
            buffer.writeImmutableBuffer(chunk)
        }
        return try await body(buffer)
    }

    /// Charges `bytes` if that keeps the total within the limit.
    func reserve(_ bytes: Int) -> Bool {
        var current = used.load(ordering: .relaxed)
        while true {
            guard current + bytes <= limit else { return false }
            let (exchanged, original) = used.compareExchange(expected: current, desired: current + bytes, ordering: .relaxed)
            if exchanged { return true }
            current = original
        }
    }

    /// Gives back bytes charged by ``reserve(_:)``.
    func release(_ bytes: Int) {
        used.subtract(bytes, ordering: .relaxed)
    }
}
