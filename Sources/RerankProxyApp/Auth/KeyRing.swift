import Crypto
import Foundation
import Hummingbird
import RerankCore
import Synchronization

/// The configured API keys, held only as SHA-256 digests, with each key's rate limit.
///
/// ```swift
/// guard let client = ring.client(presenting: secret) else { throw ProxyError.unauthorized(dialect) }
/// if case .limited(let retryAfter) = ring.admit(client) { … }
/// ```
/// A presented secret is hashed and compared with every stored digest in constant time (no early exit, no
/// length leak), so neither the timing nor a log line reveals a key.
final class KeyRing: Sendable {
    struct Client: Sendable {
        let index: Int
        let name: String
        /// Models this key may use; `nil`: all.
        let models: Set<String>?
        /// The cache namespace when the key isolates its cache.
        let namespace: String?
    }

    /// A key's rate limit: bucket size and refill rate.
    private struct Limit: Sendable, Equatable {
        let capacity: Int
        let perSecond: Double
    }

    private struct Entry: Sendable {
        let digest: [UInt8]
        let client: Client
        /// What its bucket was made from (`nil`: unlimited), so a reload can tell whether the bucket may stay.
        let limit: Limit?
    }

    private let entries: [Entry]
    private let adminDigests: [[UInt8]]
    /// One rate limit; its lock is held only to take a token.
    private final class Bucket: Sendable {
        let state: Mutex<TokenBucket>
        init(_ bucket: TokenBucket) { state = Mutex(bucket) }
    }

    private let buckets: [Bucket?]
    private let time: TimeSource
    let isEnabled: Bool

    /// - Parameter previous: the ring a policy reload replaces; a key with the same name, secret and limit keeps its
    ///   bucket (tokens spent stay spent), any other starts full.
    init(configuration: AuthConfig, time: TimeSource = .continuous, carryingOver previous: KeyRing? = nil) {
        let now = time.now
        entries = configuration.keys.enumerated().map { index, key in
            Entry(
                digest: Self.digest(key.key),
                client: Client(index: index, name: key.name, models: key.models.map(Set.init), namespace: key.isolateCache ? key.name : nil),
                limit: key.rate.map { Limit(capacity: key.bucketSize, perSecond: $0.perSecond) }
            )
        }
        buckets = entries.map { entry in
            guard let limit = entry.limit else { return nil }
            let kept = previous?.entries.firstIndex { $0.client.name == entry.client.name && $0.digest == entry.digest && $0.limit == limit }
            return kept.flatMap { previous?.buckets[$0] } ?? Bucket(TokenBucket(capacity: limit.capacity, perSecond: limit.perSecond, now: now))
        }
        adminDigests = configuration.adminKeys.map(Self.digest)
        isEnabled = configuration.isEnabled
        self.time = time
    }

    var names: [String] { entries.map(\.client.name) }

    /// Whether `auth.admin_keys` lists any key.
    var hasAdminKeys: Bool { !adminDigests.isEmpty }

    /// Who an admin key is when it calls the rerank endpoints: every model, no limit, the shared cache.
    static let admin = Client(index: -1, name: "admin", models: nil, namespace: nil)

    /// The client a secret belongs to, or `nil`.
    func client(presenting secret: String) -> Client? {
        let presented = Self.digest(secret)
        var found: Client?
        for entry in entries where Self.constantTimeEqual(entry.digest, presented) && found == nil {
            found = entry.client
        }
        return found
    }

    /// Whether a secret is one of the admin keys.
    func isAdmin(_ secret: String) -> Bool {
        let presented = Self.digest(secret)
        var match = false
        for digest in adminDigests { match = Self.constantTimeEqual(digest, presented) || match }
        return match
    }

    /// Takes one request from the client's bucket.
    func admit(_ client: Client) -> TokenBucket.Decision {
        guard buckets.indices.contains(client.index), let bucket = buckets[client.index] else { return .admitted }
        let now = time.now
        return bucket.state.withLock { $0.take(now: now) }
    }

    /// The secret a request presents: `Authorization: Bearer …`, else `api-key`, else `X-API-Key`.
    /// The secret a request presents (`Authorization: Bearer`, `api-key` or `X-API-Key`), or `nil`.
    static func presentedSecret(in headers: HTTPFields) -> String? {
        presentedSecret(authorization: headers[.authorization], apiKey: headers[apiKeyHeader], xAPIKey: headers[xAPIKeyHeader])
    }

    static let apiKeyHeader = HTTPFields.Element.Name("api-key")!
    static let xAPIKeyHeader = HTTPFields.Element.Name("X-API-Key")!

    static func presentedSecret(authorization: String?, apiKey: String?, xAPIKey: String?) -> String? {
        if let authorization {
            let parts = authorization.split(separator: " ", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == "bearer" { return parts[1].trimmingCharacters(in: .whitespaces) }
        }
        return apiKey ?? xAPIKey
    }

    private static func digest(_ secret: String) -> [UInt8] { Array(SHA256.hash(data: Array(secret.utf8))) }

    /// Compares two 32-byte digests without an early exit.
    private static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for i in a.indices { difference |= a[i] ^ b[i] }
        return difference == 0
    }
}
