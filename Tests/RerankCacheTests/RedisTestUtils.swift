import Foundation
import Synchronization

@testable import RerankCache

/// The shared test Redis (`.ci/run` and `scripts/test.sh` start one and export it); `nil` skips the Redis suites.
let sharedRedisURL = ProcessInfo.processInfo.environment["REDIS_URL"].flatMap { $0.isEmpty ? nil : $0 }

/// The `redis-server` binary, for tests that stop and restart a Redis of their own.
let redisServerPath: String? = {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
    for directory in path.split(separator: ":") + ["/usr/sbin", "/usr/bin"] {
        let candidate = "\(directory)/redis-server"
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    return nil
}()

/// A prefix no other test uses, so tests can share one Redis.
func uniquePrefix() -> String { "rrtest:\(UUID().uuidString.prefix(8)):" }

/// Runs `commands` on a fresh connection (test side: INFO, PTTL, raw SET/GET).
func redisRun(_ url: String, _ commands: [[String]]) throws -> [RedisReply] {
    try redisRunBytes(url, commands.map { $0.map { Array($0.utf8) } })
}

func redisRunBytes(_ url: String, _ commands: [[[UInt8]]]) throws -> [RedisReply] {
    let handle = try RedisConnectionHandle.connect(to: RedisEndpoint(url: url), timeout: .seconds(2))
    defer { handle.close() }
    return try handle.pipeline(commands)
}

/// `calls` of one command in `INFO commandstats` (`cmdstat_mget:calls=3,...`).
func commandCalls(_ url: String, _ command: String) throws -> Int {
    guard let text = try redisRun(url, [["INFO", "commandstats"]]).first?.text else { return 0 }
    for line in text.split(whereSeparator: \.isNewline) where line.hasPrefix("cmdstat_\(command):calls=") {
        let value = line.dropFirst("cmdstat_\(command):calls=".count).prefix { $0.isNumber }
        return Int(value) ?? 0
    }
    return 0
}

/// A private, memory-only redis-server this test can stop and restart (never the shared one).
///
/// `@unchecked Sendable`: `process` is only touched under `lock`.
final class RedisServerProcess: @unchecked Sendable {
    let port: Int
    private let lock = Mutex<Void>(())
    private var process: Process?

    var url: String { "redis://127.0.0.1:\(port)/0" }

    let extraArguments: [String]

    init(extraArguments: [String] = []) throws {
        // Below Linux's ephemeral range (32768 and up), where port-0 test servers and clients live.
        port = Int.random(in: 20_000..<32_000)
        self.extraArguments = extraArguments
        try start()
    }

    deinit { stop() }

    func start() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: redisServerPath ?? "/usr/bin/redis-server")
        process.arguments = ["--port", "\(port)", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"] + extraArguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        lock.withLock { _ in self.process = process }
        // Ready when it answers PING (up to 5 s).
        let deadline = Date().addingTimeInterval(5)
        while Date() < deadline, process.isRunning {
            if (try? redisRun(url, [["PING"]])) != nil { return }
            Thread.sleep(forTimeInterval: 0.02)
        }
        throw CacheError.open(path: url, reason: "redis-server did not start")
    }

    func stop() {
        let process = lock.withLock { _ in defer { self.process = nil }; return self.process }
        guard let process, process.isRunning else { return }
        // SIGKILL: a crash, as the tests mean (nothing is persisted anyway); the child may inherit a mask that
        // blocks SIGTERM. Stopped once its port refuses connections. Not waitUntilExit(): it relies on
        // Foundation's run loop reaping the child, which can hang on a concurrency thread.
        kill(process.processIdentifier, SIGKILL)
        let deadline = Date().addingTimeInterval(5)
        while portAccepts(port), Date() < deadline { Thread.sleep(forTimeInterval: 0.005) }
    }
}

/// Whether something accepts TCP connections on 127.0.0.1:`port`.
func portAccepts(_ port: Int) -> Bool {
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
