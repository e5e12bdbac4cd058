import CHiredis
import Foundation

/// One blocking hiredis connection (`redisContext *`) and the commands run on it.
///
/// `@unchecked Sendable` because a `redisContext` is not thread-safe and this class has mutable C state, yet
/// it crosses threads safely: ``RedisConnectionPool`` leases each handle to exactly one `NIOThreadPool` job at a
/// time (it is taken out of the pool's `Mutex`-protected idle list before the job starts and put back only
/// after the job has returned), so no two threads ever touch the context at once, and the mutex hand-off
/// orders one job's writes before the next job's reads. No method may be called outside such a job: each one
/// blocks for up to the command timeout. The context is freed exactly once, by ``close()`` or `deinit`.
final class RedisConnectionHandle: @unchecked Sendable {
    /// Owned; `nil` once closed.
    private var context: UnsafeMutablePointer<redisContext>?

    private init(context: UnsafeMutablePointer<redisContext>) {
        self.context = context
    }

    deinit { close() }

    /// Connects (at most `timeout` for the connect), sets the per-command `timeout`, then logs in and selects the database.
    /// - Throws: ``CacheError/query(reason:)`` when the server cannot be reached or refuses the login.
    static func connect(to endpoint: RedisEndpoint, timeout: Duration) throws(CacheError) -> RedisConnectionHandle {
        let tv = timeval(timeout)
        let raw: UnsafeMutablePointer<redisContext>?
        switch endpoint.address {
        case .tcp(let host, let port): raw = redisConnectWithTimeout(host, Int32(port), tv)
        case .unix(let path): raw = redisConnectUnixWithTimeout(path, tv)
        }
        guard let raw else { throw .query(reason: "cannot allocate a redis context") }
        let handle = RedisConnectionHandle(context: raw)
        if raw.pointee.err != 0 { throw .query(reason: handle.errorText) }
        guard redisSetTimeout(raw, tv) == REDIS_OK else { throw .query(reason: handle.errorText) }
        var login: [[[UInt8]]] = []
        if let password = endpoint.password {
            login.append([Array("AUTH".utf8)] + (endpoint.username.map { [Array($0.utf8)] } ?? []) + [Array(password.utf8)])
        }
        if endpoint.database != 0 { login.append([Array("SELECT".utf8), Array(String(endpoint.database).utf8)]) }
        if !login.isEmpty {
            for reply in try handle.pipeline(login) {
                if case .error(let message) = reply { throw .query(reason: "login refused: \(message)") }
            }
        }
        return handle
    }

    /// Sends `commands` in one write and reads their replies in order: one round trip, no MULTI.
    ///
    /// An error reply (`-ERR …`) is returned as ``RedisReply/error(_:)``; the connection stays usable.
    /// - Throws: ``CacheError/query(reason:)`` on an IO error or timeout; the connection is then unusable
    ///   (a late reply may still arrive) and must be closed.
    func pipeline(_ commands: [[[UInt8]]]) throws(CacheError) -> [RedisReply] {
        guard let context else { throw .query(reason: "connection closed") }
        for command in commands {
            guard Self.append(command, to: context) == REDIS_OK else { throw .query(reason: errorText) }
        }
        var replies: [RedisReply] = []
        replies.reserveCapacity(commands.count)
        for _ in commands {
            var raw: UnsafeMutableRawPointer?
            guard redisGetReply(context, &raw) == REDIS_OK, let raw else { throw .query(reason: errorText) }
            replies.append(RedisReply(raw.assumingMemoryBound(to: redisReply.self).pointee))
            freeReplyObject(raw)
        }
        return replies
    }

    /// Frees the context; later calls throw.
    func close() {
        if let context { redisFree(context) }
        context = nil
    }

    private var errorText: String {
        guard let context else { return "connection closed" }
        let text = withUnsafeBytes(of: context.pointee.errstr) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        return text.isEmpty ? "redis error \(context.pointee.err)" : text
    }

    /// `redisAppendCommandArgv` with binary-safe arguments (explicit lengths, no NUL terminators needed).
    private static func append(_ command: [[UInt8]], to context: UnsafeMutablePointer<redisContext>) -> Int32 {
        let total = command.reduce(0) { $0 + $1.count }
        let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: max(total, 1))
        defer { buffer.deallocate() }
        var pointers: [UnsafePointer<CChar>?] = []
        pointers.reserveCapacity(command.count)
        var lengths: [Int] = []
        lengths.reserveCapacity(command.count)
        var offset = 0
        for argument in command {
            argument.withUnsafeBytes { source in
                UnsafeMutableRawPointer(buffer + offset).copyMemory(from: source.baseAddress ?? UnsafeRawPointer(buffer), byteCount: source.count)
            }
            pointers.append(UnsafePointer(buffer + offset))
            lengths.append(argument.count)
            offset += argument.count
        }
        return pointers.withUnsafeMutableBufferPointer { argv in
            lengths.withUnsafeBufferPointer { argvlen in
                redisAppendCommandArgv(context, Int32(command.count), argv.baseAddress, argvlen.baseAddress)
            }
        }
    }
}

extension timeval {
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self.init(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
    }
}
