import Foundation

/// Where a Redis server listens and how to log in, parsed from `redis://[[user]:password@]host[:port][/db]`
/// or `unix:///path/to/redis.sock[?db=N]`.
///
/// ```swift
/// let endpoint = try RedisEndpoint(url: "redis://:secret@10.0.0.5:6380/2")
/// print(endpoint)        // redis://10.0.0.5:6380/2 (never the password)
/// ```
public struct RedisEndpoint: Sendable, Equatable, CustomStringConvertible {
    public enum Address: Sendable, Equatable {
        case tcp(host: String, port: Int)
        case unix(path: String)
    }

    public var address: Address
    public var username: String?
    public var password: String?
    public var database: Int

    /// - Throws: ``CacheError/open(path:reason:)`` for a URL that is not `redis://` or `unix://`, or has a bad port or db.
    public init(url: String) throws(CacheError) {
        func bad(_ reason: String) -> CacheError { .open(path: "redis URL", reason: reason) }
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased() else {
            throw bad("not a URL (expected redis://host:port/db or unix:///path.sock)")
        }
        username = components.user.flatMap { $0.isEmpty ? nil : $0 }
        password = components.password.flatMap { $0.isEmpty ? nil : $0 }
        switch scheme {
        case "redis":
            guard let host = components.host, !host.isEmpty else { throw bad("no host") }
            let port = components.port ?? 6379
            guard (1...65535).contains(port) else { throw bad("port \(port) is out of range") }
            address = .tcp(host: host, port: port)
            let path = components.path.drop { $0 == "/" }
            if path.isEmpty {
                database = 0
            } else if let db = Int(path), db >= 0 {
                database = db
            } else {
                throw bad("the path must be a database number, not \(path)")
            }
        case "unix":
            guard !components.path.isEmpty else { throw bad("no socket path") }
            address = .unix(path: components.path)
            let db = components.queryItems?.first { $0.name == "db" }?.value
            if let db {
                guard let n = Int(db), n >= 0 else { throw bad("db must be a number, not \(db)") }
                database = n
            } else {
                database = 0
            }
        default:
            throw bad("scheme \(scheme) is not redis or unix")
        }
    }

    /// The URL without credentials (safe to log).
    public var description: String {
        switch address {
        case .tcp(let host, let port): "redis://\(host):\(port)/\(database)"
        case .unix(let path): "unix://\(path)?db=\(database)"
        }
    }
}
