import Foundation
import Synchronization

/// The shared test Redis (`.ci/run` and `scripts/test.sh` start one and export it); `nil` skips the Redis suites.
public let sharedRedisURL = ProcessInfo.processInfo.environment["REDIS_URL"].flatMap { $0.isEmpty ? nil : $0 }

/// The `redis-server` binary, for tests that stop and restart a Redis of their own.
public let redisServerPath: String? = {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
    for directory in path.split(separator: ":") + ["/usr/sbin", "/usr/bin"] {
        let candidate = "\(directory)/redis-server"
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    return nil
}()

/// A private, memory-only redis-server a test can stop (a crash: SIGKILL) and restart on the same port (never
/// the shared one).
public final class PrivateRedisServer: Sendable {
    /// Below Linux's ephemeral range (32768 and up), where test servers bound to port 0 and clients live: a port
    /// another listener holds would make redis-server exit while that listener answers in its place.
    public let port = Int.random(in: 20_000..<32_000)
    public let extraArguments: [String]
    private let process = Mutex<Process?>(nil)

    public var url: String { "redis://127.0.0.1:\(port)/0" }

    public init(extraArguments: [String] = []) throws {
        self.extraArguments = extraArguments
        try start()
    }

    deinit { stop() }

    /// Starts it and returns once it accepts connections.
    /// - Throws: when it exits (its port was taken) or does not listen within 5 s.
    public func start() throws {
        let started = Process()
        started.executableURL = URL(fileURLWithPath: redisServerPath ?? "/usr/bin/redis-server")
        started.arguments = ["--port", "\(port)", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"] + extraArguments
        started.standardOutput = FileHandle.nullDevice
        started.standardError = FileHandle.nullDevice
        try started.run()
        process.withLock { $0 = started }
        let deadline = Date().addingTimeInterval(5)
        while Date() < deadline, started.isRunning {
            if portAccepts(port) { return }
            Thread.sleep(forTimeInterval: 0.02)
        }
        throw CocoaError(.executableLoad, userInfo: [NSLocalizedDescriptionKey: "redis-server did not start on port \(port)"])
    }

    /// Kills it and returns once its port refuses connections.
    public func stop() {
        let running = process.withLock { process in
            defer { process = nil }
            return process
        }
        guard let running, running.isRunning else { return }
        // SIGKILL: a crash, as the tests mean (nothing is persisted anyway); the child may inherit a mask that
        // blocks SIGTERM. Not waitUntilExit(): it relies on Foundation's run loop reaping the child, which can
        // hang on a concurrency thread.
        kill(running.processIdentifier, SIGKILL)
        let deadline = Date().addingTimeInterval(5)
        while portAccepts(port), Date() < deadline { Thread.sleep(forTimeInterval: 0.005) }
    }
}

/// Whether something accepts TCP connections on 127.0.0.1:`port`.
public func portAccepts(_ port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    } == 0
}
