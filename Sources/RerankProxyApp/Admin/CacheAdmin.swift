import Foundation
import Logging
import RerankCache
import RerankCore

/// `rerank-proxy cache stats|purge|export|import`: the policy's persistent store, opened the way a proxy opens
/// it (SQLite in WAL mode with a busy timeout, Redis on hiredis), so every command works while proxies run on
/// the same file or Redis.
/// ```swift
/// let admin = try CacheAdmin(policy: try PolicyConfig.load(file: "policies/local.yaml"), logger: logger)
/// defer { admin.close() }
/// print(try await admin.purge(model: "bge-reranker-v2-m3").summary)
/// ```
public final class CacheAdmin: Sendable {
    /// What went wrong, worded for the command line.
    public enum Failure: Error, CustomStringConvertible, Sendable {
        case noStore
        case unknownModel(String, known: [String])
        case store(CacheError)
        case file(path: String, reason: String)
        case badLine(path: String, line: Int, reason: String)

        public var description: String {
            switch self {
            case .noStore: "the policy has cache.store: none; there is no persistent cache to administer"
            case .unknownModel(let model, let known):
                "model \"\(model)\" is not in the policy (models: \(known.joined(separator: ", "))); pass --force to use that name anyway"
            case .store(let error): error.description
            case .file(let path, let reason): "\(path): \(reason)"
            case .badLine(let path, let line, let reason): "\(path):\(line): \(reason); nothing was imported"
            }
        }
    }

    /// `sqlite` or `redis`.
    public let storeName: String
    let store: any CacheAdministration & GenerationStore
    let models: [String]
    private let closeStore: @Sendable () -> Void

    /// Opens the policy's store. Redis commands get at least 5 s each (a proxy's 50 ms budget is for requests,
    /// not for `SCAN` pages); nothing connects until the first command.
    /// - Parameter creating: whether a missing SQLite file may be created (`import`); otherwise a mistyped
    ///   `cache.sqlite.path` is an error instead of a new empty cache.
    /// - Throws: ``Failure/noStore`` for `store: none`, ``Failure/file(path:reason:)`` for a missing SQLite file,
    ///   ``Failure/store(_:)`` when the store cannot be opened.
    public init(policy: PolicyConfig, creating: Bool = false, logger: Logger) throws(Failure) {
        models = policy.models.map(\.name)
        let cache = policy.cache
        do {
            switch cache.store {
            case .none:
                throw Failure.noStore
            case .sqlite:
                guard creating || FileManager.default.fileExists(atPath: cache.sqlite.path) else {
                    throw Failure.file(path: cache.sqlite.path, reason: "no SQLite cache file here (cache.sqlite.path); nothing to administer")
                }
                let sqlite = try SQLiteCacheStore(
                    configuration: .init(path: cache.sqlite.path, maxEntries: cache.sqlite.maxEntries, ttlSeconds: cache.ttl.seconds),
                    logger: logger
                )
                store = sqlite
                closeStore = { sqlite.close() }
            case .redis:
                let redis = try RedisCacheStore(
                    configuration: .init(
                        url: cache.redis.url, prefix: cache.redis.prefix, poolSize: 2, timeout: max(cache.redis.timeout.duration, .seconds(5)),
                        ttl: cache.ttl.duration
                    ),
                    logger: logger
                )
                store = redis
                closeStore = { redis.close() }
            }
        } catch let error as Failure {
            throw error
        } catch let error as CacheError {
            throw .store(error)
        } catch {
            throw .store(.open(path: cache.store.rawValue, reason: "\(error)"))
        }
        storeName = cache.store.rawValue
    }

    public func close() { closeStore() }

    // MARK: - stats

    public struct Stats: Sendable, Encodable {
        public var store: String
        public var entries: Int
        /// Per policy model, in policy order.
        public var models: [ModelEntries]
        /// Entries of models not in the policy (Redis counts them in the same scan; SQLite does not, `nil`).
        public var other: Int?
        public var bytes: Int64
        public var bytesScope: String

        public struct ModelEntries: Sendable, Encodable {
            public var model: String
            public var entries: Int
        }

        enum CodingKeys: String, CodingKey {
            case store, entries, models, other, bytes
            case bytesScope = "bytes_scope"
        }

        /// The human-readable report.
        public var text: String {
            var lines = ["store: \(store)", "entries: \(entries)"]
            for model in models { lines.append("  \(model.model): \(model.entries)") }
            if let other { lines.append("  (other models): \(other)") }
            lines.append("bytes: \(bytes) (\(bytesScope))")
            return lines.joined(separator: "\n")
        }

        public var json: String {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            return String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self)
        }
    }

    public func stats() async throws(Failure) -> Stats {
        let tags = models.map(CacheKey.modelTag)
        let found: CacheAdminStats
        do { found = try await store.stats(tags: tags) } catch { throw .store(error) }
        return Stats(
            store: storeName, entries: found.entries,
            models: zip(models, tags).map { Stats.ModelEntries(model: $0, entries: found.perTag[$1] ?? 0) },
            other: found.otherEntries, bytes: found.bytes, bytesScope: found.bytesScope
        )
    }

    // MARK: - purge

    public struct Purged: Sendable, Equatable {
        public var model: String
        public var generation: UInt64
        public var deleted: Int
        /// Deleted by the second pass: scores running proxies wrote under the old generation after the first.
        public var late = 0

        public var summary: String {
            "purged \(model): generation \(generation) (running proxies stop serving its cached scores within about a second); "
                + "deleted \(deleted) stored scores" + (late > 0 ? ", and \(late) more that running proxies wrote meanwhile" : "")
        }
    }

    /// How long `cache purge` waits before its second pass: a running proxy re-reads generations every second, and
    /// until then (plus its write queue's flush: SQLite's `flush_interval`, 1 s by default) it may still write scores
    /// under the old generation. They could never be served, but with `ttl: 0` they would stay.
    public static let purgeSettle = Duration.seconds(3)

    /// Advances the model's generation in the store first (every running replica re-reads it every second and
    /// stops serving the model's scores from its memory tier), then deletes the model's stored scores of every
    /// generation, tenant, revision and setting (they share the model tag).
    /// - Parameter force: purge a model the policy does not list (e.g. one removed from it).
    /// - Parameter settling: awaited between the first delete pass and a second one (the command sleeps
    ///   ``purgeSettle``); `nil`: one pass only.
    public func purge(model: String, force: Bool = false, settling: (@Sendable () async -> Void)? = nil) async throws(Failure) -> Purged {
        guard force || models.contains(model) else { throw .unknownModel(model, known: models) }
        do {
            let generation = try await store.advanceGeneration(model: model)
            let tag = CacheKey.modelTag(model)
            var purged = Purged(model: model, generation: generation, deleted: try await store.purge(tag: tag))
            if let settling {
                await settling()
                purged.late = try await store.purge(tag: tag)
            }
            return purged
        } catch {
            throw .store(error)
        }
    }
}
