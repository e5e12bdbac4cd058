import Foundation

/// `auth:`: API keys with rate limits, admin keys, and whether the status endpoints need an admin key.
/// Off (every request allowed) while `keys` and `admin_keys` are both empty.
public struct AuthConfig: Decodable, Sendable, Equatable {
    public struct Key: Decodable, Sendable, Equatable {
        public var name: String
        /// The secret; read from the environment (`${SEARCH_APP_KEY}`) in practice. Never logged or echoed.
        public var key: String
        /// Requests per second, minute or hour (`200/s`, `20/m`); `nil`: unlimited.
        public var rate: RateValue?
        /// Requests allowed at once above the rate (token bucket size); defaults to one second of `rate`, at least 1.
        public var burst: Int?
        /// Models this key may use; `nil`: every model.
        public var models: [String]?
        /// The key's name becomes part of every cache key and flight: its hits are its own.
        public var isolateCache = false

        enum CodingKeys: String, CodingKey, CaseIterable {
            case name, key, rate, burst, models
            case isolateCache = "isolate_cache"
        }

        public init(name: String, key: String, rate: RateValue? = nil, burst: Int? = nil, models: [String]? = nil, isolateCache: Bool = false) {
            self.name = name
            self.key = key
            self.rate = rate
            self.burst = burst
            self.models = models
            self.isolateCache = isolateCache
        }

        public init(from decoder: any Decoder) throws {
            try decoder.rejectUnknownKeys(CodingKeys.self)
            let c = try decoder.container(keyedBy: CodingKeys.self)
            name = try c.decodeExpanded(.name) ?? ""
            key = try c.decodeExpanded(.key) ?? ""
            rate = try c.decodeIfPresent(RateValue.self, forKey: .rate)
            burst = try c.decodeIfPresent(Int.self, forKey: .burst)
            models = try c.decodeIfPresent([String].self, forKey: .models)
            isolateCache = try c.decodeIfPresent(Bool.self, forKey: .isolateCache) ?? false
        }

        /// Tokens in the bucket when full.
        var bucketSize: Int { burst ?? max(1, Int(rate?.perSecond.rounded(.up) ?? 1)) }
    }

    public var keys: [Key] = []
    public var adminKeys: [String] = []
    /// `/v1/stats`, `/stats` and `/metrics` need an admin key.
    public var protectStats = false

    enum CodingKeys: String, CodingKey, CaseIterable {
        case keys
        case adminKeys = "admin_keys"
        case protectStats = "protect_stats"
    }

    public init() {}

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        keys = try c.decodeIfPresent([Key].self, forKey: .keys) ?? []
        let environment = ProcessInfo.processInfo.environment
        let raw: [String] = try c.decodeIfPresent([String].self, forKey: .adminKeys) ?? []
        for text in raw {
            do {
                adminKeys.append(try expandEnvironment(text, environment: environment))
            } catch {
                throw DecodingError.dataCorruptedError(forKey: .adminKeys, in: c, debugDescription: error.message)
            }
        }
        protectStats = try c.decodeIfPresent(Bool.self, forKey: .protectStats) ?? false
    }

    /// Whether any key is configured: then rerank endpoints require one.
    public var isEnabled: Bool { !keys.isEmpty || !adminKeys.isEmpty }

    func validate(models: Set<String>) throws(ConfigError) {
        var names = Set<String>()
        var secrets = Set<String>()
        for (i, key) in keys.enumerated() {
            let path = "auth.keys[\(i)]"
            guard !key.name.isEmpty else { throw .invalid(path: "\(path).name", message: "must not be empty") }
            guard names.insert(key.name).inserted else { throw .invalid(path: "\(path).name", message: "key \"\(key.name)\" is listed twice") }
            guard key.key.count >= 8 else { throw .invalid(path: "\(path).key", message: "must be at least 8 characters (is its environment variable set?)") }
            guard secrets.insert(key.key).inserted else { throw .invalid(path: "\(path).key", message: "the same secret is given to two keys") }
            if let burst = key.burst, burst < 1 { throw .invalid(path: "\(path).burst", message: "must be at least 1") }
            for (j, model) in (key.models ?? []).enumerated() where !models.contains(model) {
                throw .invalid(path: "\(path).models[\(j)]", message: "model \"\(model)\" is not in models")
            }
        }
        for (i, admin) in adminKeys.enumerated() {
            guard admin.count >= 8 else { throw .invalid(path: "auth.admin_keys[\(i)]", message: "must be at least 8 characters (is its environment variable set?)") }
        }
        if protectStats && adminKeys.isEmpty {
            throw .invalid(path: "auth.protect_stats", message: "needs at least one admin key")
        }
    }
}

/// A rate written as `<number>/<unit>` with unit `s`, `m` or `h` (`200/s`, `20/m`).
public struct RateValue: Decodable, Sendable, Equatable, CustomStringConvertible {
    public var perSecond: Double
    public let description: String

    public init(parsing text: String) throws(ConfigError) {
        let parts = text.trimmingCharacters(in: .whitespaces).split(separator: "/")
        let seconds: Double? = parts.count == 2 ? ["s": 1, "m": 60, "h": 3600][String(parts[1])] : nil
        guard let seconds, let count = Double(parts[0]), count > 0, count.isFinite else {
            throw .invalid(path: "", message: "\"\(text)\" is not a rate (use a number per s, m or h, e.g. 200/s)")
        }
        perSecond = count / seconds
        description = text
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        do { try self.init(parsing: text) } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.message))
        }
    }
}
