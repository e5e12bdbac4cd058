import Foundation
import RerankCache

/// The resolved policy as `GET /admin/policy` shows it: the policy file's own key names, defaults filled in,
/// and every secret masked (API keys and admin keys as `***`, a Redis password and a backend URL's user
/// info dropped), so the answer can be shown on a screen.
struct PolicyView: Encodable {
    struct Server: Encodable {
        var host: String
        var port: Int
        var max_body_bytes, max_documents, max_connections, max_buffered_body_bytes: Int
        var header_timeout, body_timeout, idle_timeout: String
    }

    struct SQLite: Encodable {
        var path: String
        var max_entries: Int
        var flush_interval: String
        var max_pending_writes: Int
    }

    struct Redis: Encodable {
        var url, prefix, timeout, lease: String
        var pool_size: Int
    }

    struct Cache: Encodable {
        var memory_entries: Int
        var store, ttl: String
        var sqlite: SQLite?
        var redis: Redis?
    }

    struct Backend: Encodable {
        var name, api, url: String
        var path, model, api_key: String?
        var max_batch, weight, max_concurrency: Int
        var timeout, health_path: String
    }

    struct Model: Encodable {
        var name, revision: String
        var eject_after, max_queue: Int
        var eject_for: String
        var canary_tolerance: Double?
        /// Purges so far (the cache generation now in use).
        var cache_generation: UInt64
        var backends: [Backend]
    }

    struct Key: Encodable {
        var name: String
        var key = PolicyView.masked
        var rate: String?
        var burst: Int?
        var models: [String]?
        var isolate_cache: Bool
    }

    struct Auth: Encodable {
        var keys: [Key]
        var admin_keys: [String]
        var protect_stats: Bool
    }

    static let masked = "***"

    var server: Server
    var cache: Cache
    var auth: Auth
    var models: [Model]

    init(_ policy: PolicyConfig, generation: (String) -> UInt64) {
        let s = policy.server
        server = Server(
            host: s.host, port: s.port, max_body_bytes: s.maxBodyBytes, max_documents: s.maxDocuments, max_connections: s.maxConnections,
            max_buffered_body_bytes: s.maxBufferedBodyBytes, header_timeout: "\(s.headerTimeout)", body_timeout: "\(s.bodyTimeout)",
            idle_timeout: "\(s.idleTimeout)"
        )
        let c = policy.cache
        cache = Cache(memory_entries: c.memoryEntries, store: c.store.rawValue, ttl: "\(c.ttl)")
        if c.store == .sqlite {
            cache.sqlite = SQLite(
                path: c.sqlite.path, max_entries: c.sqlite.maxEntries, flush_interval: "\(c.sqlite.flushInterval)", max_pending_writes: c.sqlite.maxPendingWrites
            )
        }
        if c.store == .redis {
            // RedisEndpoint's description leaves the password out.
            let url = (try? RedisEndpoint(url: c.redis.url).description) ?? Self.masked
            cache.redis = Redis(url: url, prefix: c.redis.prefix, timeout: "\(c.redis.timeout)", lease: "\(c.redis.lease)", pool_size: c.redis.poolSize)
        }
        auth = Auth(
            keys: policy.auth.keys.map {
                Key(name: $0.name, rate: $0.rate?.description, burst: $0.burst, models: $0.models, isolate_cache: $0.isolateCache)
            },
            admin_keys: policy.auth.adminKeys.map { _ in Self.masked },
            protect_stats: policy.auth.protectStats
        )
        models = policy.models.map { model in
            Model(
                name: model.name, revision: model.revision, eject_after: model.ejectAfter, max_queue: model.maxQueue, eject_for: "\(model.ejectFor)",
                canary_tolerance: model.canary?.tolerance, cache_generation: generation(model.name),
                backends: model.backends.map { b in
                    Backend(
                        name: b.name, api: b.api.rawValue, url: Self.withoutUserInfo(b.url), path: b.path, model: b.model,
                        api_key: (b.apiKey?.isEmpty ?? true) ? nil : Self.masked, max_batch: b.maxBatch, weight: b.weight,
                        max_concurrency: b.maxConcurrency, timeout: "\(b.timeout)", health_path: b.healthPath
                    )
                }
            )
        }
    }

    /// `http://user:secret@host/x` → `http://host/x`.
    static func withoutUserInfo(_ url: String) -> String {
        guard var parts = URLComponents(string: url), parts.user != nil || parts.password != nil else { return url }
        parts.user = nil
        parts.password = nil
        return parts.string ?? Self.masked
    }
}
