import Foundation
import RerankBackends
import RerankCache
import Yams

/// The policy file: server limits, cache tiers and the backend pool of every model.
///
/// ```swift
/// let policy = try PolicyConfig.load(file: "policies/local.yaml")
/// ```
public struct PolicyConfig: Decodable, Sendable {
    public var server: ServerConfig
    public var cache: CacheConfig
    /// API keys, rate limits and admin keys; off unless configured.
    public var auth = AuthConfig()
    /// Batch requests and asynchronous jobs (JobsConfig.swift).
    public var jobs = JobsConfig()
    /// The first model is the default when a request names none.
    public var models: [ModelConfig]

    enum CodingKeys: String, CodingKey, CaseIterable { case server, cache, auth, jobs, models }

    public init(server: ServerConfig = .init(), cache: CacheConfig = .init(), models: [ModelConfig]) {
        self.server = server
        self.cache = cache
        self.models = models
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        server = try c.decodeIfPresent(ServerConfig.self, forKey: .server) ?? .init()
        cache = try c.decodeIfPresent(CacheConfig.self, forKey: .cache) ?? .init()
        auth = try c.decodeIfPresent(AuthConfig.self, forKey: .auth) ?? .init()
        jobs = try c.decodeIfPresent(JobsConfig.self, forKey: .jobs) ?? .init()
        guard let models = try c.decodeIfPresent([ModelConfig].self, forKey: .models) else {
            throw DecodingError.keyNotFound(CodingKeys.models, .init(codingPath: [], debugDescription: "at least one model is required"))
        }
        self.models = models
    }

    /// Reads, decodes and validates a policy file.
    /// - Throws: ``ConfigError`` naming the file, the key path and what is wrong.
    public static func load(file: String) throws(ConfigError) -> PolicyConfig {
        let text: String
        do {
            text = try String(contentsOfFile: file, encoding: .utf8)
        } catch {
            throw .unreadable(file: file, reason: "cannot read the file (\(error.localizedDescription))")
        }
        return try parse(text, file: file)
    }

    /// Decodes and validates policy YAML; `file` only labels the errors.
    public static func parse(_ yaml: String, file: String = "<policy>") throws(ConfigError) -> PolicyConfig {
        let policy: PolicyConfig
        do {
            policy = try YAMLDecoder().decode(PolicyConfig.self, from: yaml)
        } catch let error as DecodingError {
            throw error.configError(file: file)
        } catch {
            throw .located(file: file, path: "", message: "not valid YAML: \(error)")
        }
        do {
            try policy.validate()
        } catch {
            if case .invalid(let path, let message) = error { throw .located(file: file, path: path, message: message) }
            throw error
        }
        return policy
    }

    /// Checks what types alone cannot: non-empty pools, unique names, URLs, positive limits.
    public func validate() throws(ConfigError) {
        try server.validate()
        try cache.validate()
        try jobs.validate()
        guard jobs.maxBodyBytes <= server.maxBufferedBodyBytes else {
            throw .invalid(path: "jobs.max_body_bytes", message: "must be at most server.max_buffered_body_bytes (\(server.maxBufferedBodyBytes))")
        }
        guard !models.isEmpty else { throw .invalid(path: "models", message: "at least one model is required") }
        var names = Set<String>()
        for (i, model) in models.enumerated() {
            guard names.insert(model.name).inserted else {
                throw .invalid(path: "models[\(i)].name", message: "model \"\(model.name)\" is listed twice")
            }
            try model.validate(path: "models[\(i)]")
        }
        try auth.validate(models: names)
    }
}

public struct ServerConfig: Decodable, Sendable, Equatable {
    public var host = "127.0.0.1"
    public var port = 8080
    public var maxBodyBytes = 8_388_608
    public var maxDocuments = 1000
    /// Time allowed for a whole request head, from the connection opening or the first byte of a later request.
    public var headerTimeout = DurationValue(.seconds(10), text: "10s")
    /// Time allowed for a whole request body, from the end of its head.
    public var bodyTimeout = DurationValue(.seconds(30), text: "30s")
    /// How long a keep-alive connection may wait for its next request.
    public var idleTimeout = DurationValue(.seconds(60), text: "60s")
    /// Open client connections; past it the listener stops accepting until one closes. Lowered at start to 3/4 of
    /// the process's open-file limit when that is smaller (see ``ServerLimits``).
    public var maxConnections = 10_000
    /// Request-body bytes held across all in-flight requests; a body that would pass it gets 503 with Retry-After.
    /// 256 MiB is 32 bodies of the default `max_body_bytes`.
    public var maxBufferedBodyBytes = 268_435_456

    enum CodingKeys: String, CodingKey, CaseIterable {
        case host, port
        case maxBodyBytes = "max_body_bytes"
        case maxDocuments = "max_documents"
        case headerTimeout = "header_timeout"
        case bodyTimeout = "body_timeout"
        case idleTimeout = "idle_timeout"
        case maxConnections = "max_connections"
        case maxBufferedBodyBytes = "max_buffered_body_bytes"
    }

    public init() {}

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        host = try c.decodeExpanded(.host) ?? host
        port = try c.decodeIfPresent(Int.self, forKey: .port) ?? port
        maxBodyBytes = try c.decodeIfPresent(Int.self, forKey: .maxBodyBytes) ?? maxBodyBytes
        maxDocuments = try c.decodeIfPresent(Int.self, forKey: .maxDocuments) ?? maxDocuments
        headerTimeout = try c.decodeIfPresent(DurationValue.self, forKey: .headerTimeout) ?? headerTimeout
        bodyTimeout = try c.decodeIfPresent(DurationValue.self, forKey: .bodyTimeout) ?? bodyTimeout
        idleTimeout = try c.decodeIfPresent(DurationValue.self, forKey: .idleTimeout) ?? idleTimeout
        maxConnections = try c.decodeIfPresent(Int.self, forKey: .maxConnections) ?? maxConnections
        maxBufferedBodyBytes = try c.decodeIfPresent(Int.self, forKey: .maxBufferedBodyBytes) ?? maxBufferedBodyBytes
    }

    func validate() throws(ConfigError) {
        guard (0...65535).contains(port) else { throw .invalid(path: "server.port", message: "must be between 0 and 65535") }
        guard maxBodyBytes > 0 else { throw .invalid(path: "server.max_body_bytes", message: "must be positive") }
        guard maxDocuments > 0 else { throw .invalid(path: "server.max_documents", message: "must be positive") }
        guard !host.isEmpty else { throw .invalid(path: "server.host", message: "must not be empty") }
        for (key, value) in [("header_timeout", headerTimeout), ("body_timeout", bodyTimeout), ("idle_timeout", idleTimeout)] {
            guard value.duration > .zero else { throw .invalid(path: "server.\(key)", message: "must be positive") }
        }
        guard maxConnections > 0 else { throw .invalid(path: "server.max_connections", message: "must be positive") }
        guard maxBufferedBodyBytes >= maxBodyBytes else {
            throw .invalid(path: "server.max_buffered_body_bytes", message: "must be at least max_body_bytes (\(maxBodyBytes))")
        }
    }
}

public struct CacheConfig: Decodable, Sendable, Equatable {
    public enum Store: String, Decodable, Sendable { case sqlite, redis, none }

    public struct SQLite: Decodable, Sendable, Equatable {
        public var path = "data/scores.sqlite"
        public var maxEntries = 50_000_000
        /// How often queued scores are committed. Longer batches touch each B-tree leaf once for many rows:
        /// 1 s instead of 50 ms cut the miss-path p99 at c=1 from ~5 ms to ~2.5 ms (docs/benchmarks.md).
        public var flushInterval = DurationValue(.seconds(1), text: "1s")
        /// Most scores waiting to be committed; past it new scores are not persisted (and are counted) until
        /// the writer catches up, so a store that cannot keep up cannot exhaust memory.
        public var maxPendingWrites = 1_000_000

        enum CodingKeys: String, CodingKey, CaseIterable {
            case path
            case maxEntries = "max_entries"
            case flushInterval = "flush_interval"
            case maxPendingWrites = "max_pending_writes"
        }

        public init() {}

        public init(from decoder: any Decoder) throws {
            try decoder.rejectUnknownKeys(CodingKeys.self)
            let c = try decoder.container(keyedBy: CodingKeys.self)
            path = try c.decodeExpanded(.path) ?? path
            maxEntries = try c.decodeIfPresent(Int.self, forKey: .maxEntries) ?? maxEntries
            flushInterval = try c.decodeIfPresent(DurationValue.self, forKey: .flushInterval) ?? flushInterval
            maxPendingWrites = try c.decodeIfPresent(Int.self, forKey: .maxPendingWrites) ?? maxPendingWrites
        }
    }

    /// `cache.redis`: a Redis every replica shares (hiredis; see RedisCacheStore for the key layout).
    public struct Redis: Decodable, Sendable, Equatable {
        /// `redis://[[user]:password@]host[:port][/db]` or `unix:///path.sock[?db=N]`.
        public var url = "redis://127.0.0.1:6379/0"
        /// Every key this proxy writes starts with it.
        public var prefix = "rr:"
        /// Connections in the pool.
        public var poolSize = 8
        /// Per command (and connect); slower counts as a miss, never as a failed request.
        public var timeout = DurationValue(.milliseconds(50), text: "50ms")
        /// How long an in-flight pair is owned (cross-replica coalescing).
        public var lease = DurationValue(.seconds(10), text: "10s")

        enum CodingKeys: String, CodingKey, CaseIterable {
            case url, prefix, timeout, lease
            case poolSize = "pool_size"
        }

        public init() {}

        public init(from decoder: any Decoder) throws {
            try decoder.rejectUnknownKeys(CodingKeys.self)
            let c = try decoder.container(keyedBy: CodingKeys.self)
            url = try c.decodeIfPresent(String.self, forKey: .url) ?? url
            prefix = try c.decodeIfPresent(String.self, forKey: .prefix) ?? prefix
            poolSize = try c.decodeIfPresent(Int.self, forKey: .poolSize) ?? poolSize
            timeout = try c.decodeIfPresent(DurationValue.self, forKey: .timeout) ?? timeout
            lease = try c.decodeIfPresent(DurationValue.self, forKey: .lease) ?? lease
        }

        func validate() throws(ConfigError) {
            do {
                _ = try RedisEndpoint(url: url)
            } catch {
                if case .open(_, let reason) = error { throw .invalid(path: "cache.redis.url", message: reason) }
                throw .invalid(path: "cache.redis.url", message: error.description)
            }
            guard (1...1024).contains(poolSize) else { throw .invalid(path: "cache.redis.pool_size", message: "must be 1 to 1024") }
            guard timeout.duration > .zero, timeout.duration <= .seconds(10) else {
                throw .invalid(path: "cache.redis.timeout", message: "must be more than 0 and at most 10s")
            }
            guard lease.duration >= .milliseconds(1) else { throw .invalid(path: "cache.redis.lease", message: "must be at least 1ms") }
        }
    }

    public var memoryEntries = 1_000_000
    public var store = Store.sqlite
    public var ttl = DurationValue(.seconds(30 * 86400), text: "30d")
    public var sqlite = SQLite()
    public var redis = Redis()

    enum CodingKeys: String, CodingKey, CaseIterable {
        case store, ttl, sqlite, redis
        case memoryEntries = "memory_entries"
    }

    public init() {}

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        memoryEntries = try c.decodeIfPresent(Int.self, forKey: .memoryEntries) ?? memoryEntries
        store = try c.decodeIfPresent(Store.self, forKey: .store) ?? store
        ttl = try c.decodeIfPresent(DurationValue.self, forKey: .ttl) ?? ttl
        sqlite = try c.decodeIfPresent(SQLite.self, forKey: .sqlite) ?? sqlite
        redis = try c.decodeIfPresent(Redis.self, forKey: .redis) ?? redis
    }

    func validate() throws(ConfigError) {
        guard memoryEntries >= 0 else { throw .invalid(path: "cache.memory_entries", message: "must be 0 (off) or positive") }
        // The memory and SQLite tiers count whole seconds (500ms would be 0 there: never expire, while Redis expired it).
        guard ttl.duration.components.attoseconds == 0 else {
            throw .invalid(path: "cache.ttl", message: "must be 0 (no expiry) or a whole number of seconds, not \(ttl)")
        }
        if store == .redis { try redis.validate() }
        if store == .sqlite {
            guard !sqlite.path.isEmpty else { throw .invalid(path: "cache.sqlite.path", message: "must not be empty") }
            guard sqlite.maxEntries >= 0 else { throw .invalid(path: "cache.sqlite.max_entries", message: "must be 0 (unbounded) or positive") }
            guard sqlite.flushInterval.duration > .zero, sqlite.flushInterval.duration <= .seconds(60) else {
                throw .invalid(path: "cache.sqlite.flush_interval", message: "must be more than 0 and at most 60s")
            }
            guard sqlite.maxPendingWrites > 0 else { throw .invalid(path: "cache.sqlite.max_pending_writes", message: "must be positive") }
        }
    }
}

public struct ModelConfig: Decodable, Sendable, Equatable {
    public var name: String
    /// Changes every cache key of the model: bump it when the weights behind the name change.
    public var revision = ""
    public var backends: [BackendConfig]
    /// Consecutive retryable failures before a backend is left out for `eject_for`.
    public var ejectAfter = 3
    public var ejectFor = DurationValue(.seconds(10), text: "10s")
    /// Pairs that may wait for a backend slot beyond the in-flight capacity (Σ max_concurrency × max_batch);
    /// past it a request is answered 429 with Retry-After at once.
    public var maxQueue = 20_000
    /// A pair every backend must score alike (within `tolerance`) at start-up and on re-admission, or be refused.
    public var canary: CanaryConfig?
    /// How long misses of different requests may wait to share one backend call; `0`: no cross-request batching.
    public var batchWindow = DurationValue(.zero, text: "0")
    /// Other backends tried for a failed call; `nil`: every healthy one.
    public var retries: Int?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, revision, backends, canary, retries
        case batchWindow = "batch_window"
        case ejectAfter = "eject_after"
        case ejectFor = "eject_for"
        case maxQueue = "max_queue"
    }

    public init(name: String, backends: [BackendConfig]) {
        self.name = name
        self.backends = backends
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        guard let name = try c.decodeExpanded(.name) else {
            throw DecodingError.keyNotFound(CodingKeys.name, .init(codingPath: decoder.codingPath, debugDescription: "every model needs a name"))
        }
        self.name = name
        revision = try c.decodeExpanded(.revision) ?? revision
        backends = try c.decodeIfPresent([BackendConfig].self, forKey: .backends) ?? []
        ejectAfter = try c.decodeIfPresent(Int.self, forKey: .ejectAfter) ?? ejectAfter
        ejectFor = try c.decodeIfPresent(DurationValue.self, forKey: .ejectFor) ?? ejectFor
        maxQueue = try c.decodeIfPresent(Int.self, forKey: .maxQueue) ?? maxQueue
        canary = try c.decodeIfPresent(CanaryConfig.self, forKey: .canary)
        batchWindow = try c.decodeIfPresent(DurationValue.self, forKey: .batchWindow) ?? batchWindow
        retries = try c.decodeIfPresent(Int.self, forKey: .retries)
    }

    func validate(path: String) throws(ConfigError) {
        guard !name.isEmpty else { throw .invalid(path: "\(path).name", message: "must not be empty") }
        guard !backends.isEmpty else { throw .invalid(path: "\(path).backends", message: "model \"\(name)\" needs at least one backend") }
        guard ejectAfter >= 1 else { throw .invalid(path: "\(path).eject_after", message: "must be at least 1") }
        guard maxQueue >= 0 else { throw .invalid(path: "\(path).max_queue", message: "must be 0 (no queue beyond capacity) or positive") }
        guard batchWindow.duration <= .seconds(1) else { throw .invalid(path: "\(path).batch_window", message: "must be at most 1s (e.g. 2ms)") }
        if let retries, retries < 0 { throw .invalid(path: "\(path).retries", message: "must be 0 (no other backend) or positive") }
        if let canary {
            guard !canary.query.isEmpty, !canary.document.isEmpty else {
                throw .invalid(path: "\(path).canary", message: "query and document must not be empty")
            }
            guard canary.tolerance.isFinite, canary.tolerance >= 0 else {
                throw .invalid(path: "\(path).canary.tolerance", message: "must be 0 or a positive number")
            }
        }
        var names = Set<String>()
        for (i, backend) in backends.enumerated() {
            guard names.insert(backend.name).inserted else {
                throw .invalid(path: "\(path).backends[\(i)].name", message: "backend \"\(backend.name)\" is listed twice")
            }
            try backend.validate(path: "\(path).backends[\(i)]")
            // Each API forwards different score settings (see BackendAPI.honoured), and a cached score must
            // mean the same settings whichever backend computed it.
            if backend.api != backends[0].api {
                throw .invalid(
                    path: "\(path).backends[\(i)].api",
                    message: "model \"\(name)\" mixes api: \(backends[0].api.rawValue) and api: \(backend.api.rawValue); "
                        + "their backends honour different score settings, so serve them as two models"
                )
            }
        }
    }
}

public struct CanaryConfig: Decodable, Sendable, Equatable {
    public var query: String
    public var document: String
    public var tolerance = 1e-3

    enum CodingKeys: String, CodingKey, CaseIterable { case query, document, tolerance }

    public init(query: String, document: String, tolerance: Double = 1e-3) {
        self.query = query
        self.document = document
        self.tolerance = tolerance
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        guard let query = try c.decodeExpanded(.query), let document = try c.decodeExpanded(.document) else {
            throw DecodingError.keyNotFound(
                c.contains(.query) ? CodingKeys.document : CodingKeys.query,
                .init(codingPath: decoder.codingPath, debugDescription: "a canary needs a query and a document")
            )
        }
        self.query = query
        self.document = document
        tolerance = try c.decodeIfPresent(Double.self, forKey: .tolerance) ?? tolerance
    }
}

public struct BackendConfig: Decodable, Sendable, Equatable {
    public var name: String
    public var api: BackendAPI = .cohere
    public var url: String
    public var path: String?
    public var apiKey: String?
    /// The model name the backend serves, when it differs from the proxy's.
    public var model: String?
    public var maxBatch = 64
    public var timeout = DurationValue(.seconds(30), text: "30s")
    /// GET path probed while the backend is ejected; 2xx brings it back.
    public var healthPath = "/health"
    /// Relative capacity for balancing: chunks go to the backend with the fewest outstanding pairs per weight.
    public var weight = 1
    /// Calls in flight to this backend at once; more wait in the proxy (and count toward the model's max_queue).
    public var maxConcurrency = 64

    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, api, url, path, model, timeout, weight
        case apiKey = "api_key"
        case maxBatch = "max_batch"
        case healthPath = "health_path"
        case maxConcurrency = "max_concurrency"
    }

    public init(name: String, api: BackendAPI = .cohere, url: String, maxBatch: Int = 64, timeout: Duration = .seconds(30)) {
        self.name = name
        self.api = api
        self.url = url
        self.maxBatch = maxBatch
        self.timeout = DurationValue(timeout, text: "\(timeout)")
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        guard let name = try c.decodeExpanded(.name), let url = try c.decodeExpanded(.url) else {
            throw DecodingError.keyNotFound(
                c.contains(.name) ? CodingKeys.url : CodingKeys.name,
                .init(codingPath: decoder.codingPath, debugDescription: "every backend needs a name and a url")
            )
        }
        self.name = name
        self.url = url
        if let api = try c.decodeIfPresent(String.self, forKey: .api) {
            guard let known = BackendAPI(rawValue: api) else {
                throw DecodingError.dataCorruptedError(
                    forKey: .api, in: c,
                    debugDescription: "unknown api \"\(api)\" (expected one of: \(BackendAPI.allCases.map(\.rawValue).joined(separator: ", ")))"
                )
            }
            self.api = known
        }
        path = try c.decodeExpanded(.path)
        apiKey = try c.decodeExpanded(.apiKey)
        model = try c.decodeExpanded(.model)
        maxBatch = try c.decodeIfPresent(Int.self, forKey: .maxBatch) ?? maxBatch
        timeout = try c.decodeIfPresent(DurationValue.self, forKey: .timeout) ?? timeout
        healthPath = try c.decodeExpanded(.healthPath) ?? healthPath
        weight = try c.decodeIfPresent(Int.self, forKey: .weight) ?? weight
        maxConcurrency = try c.decodeIfPresent(Int.self, forKey: .maxConcurrency) ?? maxConcurrency
    }

    func validate(path: String) throws(ConfigError) {
        guard !name.isEmpty else { throw .invalid(path: "\(path).name", message: "must not be empty") }
        guard let components = URLComponents(string: url), let scheme = components.scheme, ["http", "https"].contains(scheme),
            let host = components.host, !host.isEmpty
        else {
            throw .invalid(path: "\(path).url", message: "\"\(url)\" is not an http(s) URL with a host")
        }
        if let route = self.path, !route.hasPrefix("/") {
            throw .invalid(path: "\(path).path", message: "must start with /")
        }
        guard healthPath.hasPrefix("/") else { throw .invalid(path: "\(path).health_path", message: "must start with /") }
        guard maxBatch > 0 else { throw .invalid(path: "\(path).max_batch", message: "must be positive") }
        guard timeout.duration > .zero else { throw .invalid(path: "\(path).timeout", message: "must be positive") }
        guard (1...1000).contains(weight) else { throw .invalid(path: "\(path).weight", message: "must be between 1 and 1000") }
        guard (1...4096).contains(maxConcurrency) else { throw .invalid(path: "\(path).max_concurrency", message: "must be between 1 and 4096") }
    }
}

extension DecodingError {
    /// Turns Yams/Decodable errors into "file: models[0].backends[1].url: what is wrong".
    func configError(file: String) -> ConfigError {
        func render(_ path: [any CodingKey]) -> String {
            var out = ""
            for key in path {
                if let index = key.intValue { out += "[\(index)]" } else { out += out.isEmpty ? key.stringValue : ".\(key.stringValue)" }
            }
            return out
        }
        switch self {
        case .keyNotFound(let key, let context):
            let parent = render(context.codingPath)
            return .located(file: file, path: parent.isEmpty ? key.stringValue : "\(parent).\(key.stringValue)", message: "is required")
        case .typeMismatch(let type, let context):
            return .located(file: file, path: render(context.codingPath), message: "expected \(type): \(context.debugDescription)")
        case .valueNotFound(let type, let context):
            return .located(file: file, path: render(context.codingPath), message: "expected \(type), found nothing")
        case .dataCorrupted(let context):
            return .located(file: file, path: render(context.codingPath), message: context.debugDescription)
        @unknown default:
            return .located(file: file, path: "", message: "\(self)")
        }
    }
}
