import Foundation
import TestSupport

/// The Redis the suite's Redis scenarios run against: `$REDIS_URL` when set, else a private memory-only
/// `redis-server` on a free loopback port (the tests' ``PrivateRedisServer``), stopped at the end. Every run
/// writes under its own key prefix.
final class BenchRedis: Sendable {
    let url: String
    /// Unique per run, so rows never read another run's (or a test's) scores from a shared Redis.
    let prefix = "rrbench-\(UUID().uuidString.prefix(8).lowercased()):"
    /// Where it came from, for the report's notes.
    let origin: String
    private let server: PrivateRedisServer?

    private init(url: String, origin: String, server: PrivateRedisServer?) {
        self.url = url
        self.origin = origin
        self.server = server
    }

    /// A Redis for the run, or why there is none (the caller skips its Redis rows and notes the reason).
    static func start(environment: [String: String] = ProcessInfo.processInfo.environment) -> Result<BenchRedis, BenchError> {
        if let url = environment["REDIS_URL"], !url.isEmpty {
            return .success(BenchRedis(url: url, origin: "$REDIS_URL", server: nil))
        }
        guard let binary = redisServerPath else {
            return .failure(.check("REDIS_URL is unset and there is no redis-server on PATH (apt-get install -y redis-server)"))
        }
        // A port another listener holds makes redis-server exit at start: try a few.
        var lastError = "no attempt"
        for _ in 0..<5 {
            do {
                let server = try PrivateRedisServer()
                return .success(BenchRedis(url: server.url, origin: "a private \(binary) --save '' --appendonly no on port \(server.port)", server: server))
            } catch {
                lastError = "\(error)"
            }
        }
        return .failure(.check("a private redis-server did not start: \(lastError)"))
    }

    /// The Redis and a key prefix of the run's own for one scenario, for ``ProxyProcess``.
    func scope(_ name: String) -> (url: String, prefix: String) { (url, prefix + name + ":") }

    /// Stops the private server; a shared `$REDIS_URL` is left alone (the run's keys expire with their TTL).
    func stop() { server?.stop() }
}
