import Foundation

/// A `rerank-proxy serve` child process on a free port with a generated policy, for one scenario.
final class ProxyProcess {
    let process = Process()
    let port: Int
    let directory: String
    var baseURL: String { "http://127.0.0.1:\(port)" }

    /// - Parameters:
    ///   - binary: path to the rerank-proxy executable.
    ///   - backendURL: the simulated GPU's base URL.
    ///   - memoryEntries: 0 turns the memory tier off (SQLite- and Redis-tier measurements).
    ///   - redis: turns on `store: redis` with this Redis and the run's key prefix (production's pool, timeout and lease;
    ///     a 1 h TTL so a shared Redis forgets the run's keys).
    init(binary: String, backendURL: String, api: String = "cohere", memoryEntries: Int, store: String = "sqlite", redis: (url: String, prefix: String)? = nil, maxBatch: Int = 64) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("rerank-bench-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        port = try Self.freePort()
        let policy = """
            server: { host: 127.0.0.1, port: \(port), max_body_bytes: 16777216, max_documents: 1000 }
            cache:
              memory_entries: \(memoryEntries)
              store: \(redis == nil ? store : "redis")
              ttl: \(redis == nil ? "0" : "1h")
              sqlite: { path: \(directory)/scores.sqlite, max_entries: 0 }
            \(redis.map { "  redis: { url: \"\($0.url)\", prefix: \"\($0.prefix)\", pool_size: 8, timeout: 50ms, lease: 10s }" } ?? "")
            models:
              - name: bench-model
                backends:
                  - { name: sim-gpu, api: \(api), url: "\(backendURL)", max_batch: \(maxBatch), timeout: 120s }
            """
        try policy.write(toFile: directory + "/policy.yaml", atomically: true, encoding: .utf8)
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["serve", "--config", directory + "/policy.yaml", "--log-level", "warning"]
        FileManager.default.createFile(atPath: directory + "/proxy.log", contents: nil)
        let log = FileHandle(forWritingAtPath: directory + "/proxy.log")
        process.standardError = log
        process.standardOutput = log
        try process.run()
    }

    func waitReady() async throws {
        guard await BenchHTTP.waitReady(baseURL + "/healthz") else {
            stop()
            let log = (try? String(contentsOfFile: directory + "/proxy.log", encoding: .utf8)) ?? ""
            throw BenchError.proxyDidNotStart(log: String(log.suffix(2000)))
        }
    }

    func stop() {
        guard process.isRunning else { return }
        process.interrupt()
        process.waitUntilExit()
        try? FileManager.default.removeItem(atPath: directory)
    }

    deinit { stop() }

    /// Asks the kernel for a free loopback port.
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw BenchError.noPort }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw BenchError.noPort }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

enum BenchError: Error, CustomStringConvertible {
    case proxyDidNotStart(log: String)
    case noPort
    case check(String)

    var description: String {
        switch self {
        case .proxyDidNotStart(let log): "the proxy did not start:\n\(log)"
        case .noPort: "no free port"
        case .check(let message): message
        }
    }
}
