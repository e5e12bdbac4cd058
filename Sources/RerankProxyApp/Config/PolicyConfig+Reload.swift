import Crypto
import Foundation
import RerankCore

extension PolicyConfig {
    /// Reads, decodes and validates a policy file, as ``load(file:)`` does (the checks of `check-config`), and
    /// returns the SHA-256 of its bytes (hex, as `sha256sum` prints it) with it.
    /// - Throws: ``ConfigError`` naming the file, the key path and what is wrong.
    public static func loadHashed(file: String) throws(ConfigError) -> (policy: PolicyConfig, sha256: String) {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: file))
        } catch {
            throw .unreadable(file: file, reason: "cannot read the file (\(error.localizedDescription))")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw .unreadable(file: file, reason: "the file is not UTF-8 text")
        }
        let policy = try parse(text, file: file)
        return (policy, Hex.bytes(SHA256.hash(data: data)))
    }

    /// The keys under `server:`, `cache:` and `jobs:` whose values differ in `other` (`server.port`, `cache.sqlite.path`).
    ///
    /// These are read once at start (the listen address, connection and body limits, the cache tiers and their
    /// files, the job runner and its share of each pool), so a reload that changes one is refused. Only key names are returned, never values (a Redis URL may
    /// carry a password). Durations compare by length, so `1s` and `1000ms` are the same.
    func restartOnlyChanges(comparedWith other: PolicyConfig) -> [String] {
        Self.changedKeys(server, other.server, path: "server") + Self.changedKeys(cache, other.cache, path: "cache")
            + Self.changedKeys(jobs, other.jobs, path: "jobs")
    }

    /// Walks two values of one config struct field by field (through `Mirror`), into nested config sections, and
    /// names each field that differs in the policy file's spelling.
    private static func changedKeys(_ a: Any, _ b: Any, path: String) -> [String] {
        var changed: [String] = []
        for (left, right) in zip(Mirror(reflecting: a).children, Mirror(reflecting: b).children) {
            guard let label = left.label else { continue }
            let key = path + "." + snakeCase(label)
            if let x = left.value as? DurationValue, let y = right.value as? DurationValue {
                if x.duration != y.duration { changed.append(key) }
            } else if left.value is CacheConfig.SQLite || left.value is CacheConfig.Redis {
                changed += changedKeys(left.value, right.value, path: key)
            } else if let x = left.value as? any Equatable, !x.isEqual(to: right.value) {
                changed.append(key)
            }
        }
        return changed
    }

    /// `maxBodyBytes` → `max_body_bytes`, the policy file's spelling of a property.
    private static func snakeCase(_ name: String) -> String {
        var out = ""
        for character in name {
            if character.isUppercase {
                out += "_" + character.lowercased()
            } else {
                out.append(character)
            }
        }
        return out
    }
}

extension Equatable {
    /// `self == other` when `other` has the same type.
    fileprivate func isEqual(to other: Any) -> Bool { (other as? Self).map { $0 == self } ?? false }
}
