import RerankCore

/// Offline administration of a persistent score store: counting, purging by model, export and import
/// (`rerank-proxy cache …`). Both stores implement it on their ordinary open path, so it works while proxies
/// run on the same file or Redis.
///
/// Contract:
/// - A model is named by its ``CacheKey/modelTag(_:)``: the first 8 bytes of every key of that model, whatever
///   its revision, settings, tenant or generation. Nothing but score entries is ever counted, exported or
///   deleted (SQLite's `meta` rows; Redis's lease, generation and job keys stay).
/// - Nothing holds the whole store in memory: purge and export go page by page.
/// - Methods throw ``CacheError``; a failure part-way leaves the store consistent (SQLite: each batch is one
///   transaction that keeps the `meta` entry count exact; Redis: every command is atomic on its own).
/// ```swift
/// let admin: any CacheAdministration = store
/// let deleted = try await admin.purge(tag: CacheKey.modelTag("bge-reranker-v2-m3"))
/// var cursor: String? = ""
/// while let current = cursor { let page = try await admin.exportPage(tag: nil, cursor: current); …; cursor = page.next }
/// ```
public protocol CacheAdministration: Sendable {
    /// Entries in the store, and of each of `tags`, and the store's size in bytes.
    func stats(tags: [UInt64]) async throws(CacheError) -> CacheAdminStats
    /// Deletes every stored score whose key starts with `tag`; returns how many were deleted.
    func purge(tag: UInt64) async throws(CacheError) -> Int
    /// One page of stored scores (all, or only `tag`'s), from `cursor` (`""` to start); the page's `next` is
    /// `nil` after the last page. A page may be empty while `next` is not (Redis `SCAN`).
    func exportPage(tag: UInt64?, cursor: String) async throws(CacheError) -> CacheExportPage
    /// Writes `entries`, keeping each one's age (``ExportedScore/storedAt``; `nil`: stored now) against the
    /// store's TTL; entries already expired under it are skipped. Returns how many were written.
    func importScores(_ entries: [ExportedScore]) async throws(CacheError) -> Int
}

/// What ``CacheAdministration/stats(tags:)`` found.
public struct CacheAdminStats: Sendable, Equatable {
    /// Score entries in the store (SQLite: the `meta` count, expired rows not yet swept included).
    public var entries: Int
    /// Entries per requested tag (0 when none); keys of other tags are ``otherEntries``.
    public var perTag: [UInt64: Int]
    /// Entries of tags that were not asked for, when the store counted them (Redis); `nil` when not counted.
    public var otherEntries: Int?
    /// Bytes the store uses: SQLite the file (page_count × page_size), Redis the whole server's `used_memory`.
    public var bytes: Int64
    /// What ``bytes`` measures, for the report.
    public var bytesScope: String

    public init(entries: Int, perTag: [UInt64: Int], otherEntries: Int?, bytes: Int64, bytesScope: String) {
        self.entries = entries
        self.perTag = perTag
        self.otherEntries = otherEntries
        self.bytes = bytes
        self.bytesScope = bytesScope
    }
}

/// One stored score as it leaves or enters a store: the exact key, the exact bits, and when it was stored.
public struct ExportedScore: Sendable, Equatable {
    public var key: CacheKey
    public var score: Double
    /// Unix seconds when it was stored; `nil` when the store does not know (Redis without a TTL).
    public var storedAt: Int64?

    public init(key: CacheKey, score: Double, storedAt: Int64?) {
        self.key = key
        self.score = score
        self.storedAt = storedAt
    }
}

/// A page of ``CacheAdministration/exportPage(tag:cursor:)``.
public struct CacheExportPage: Sendable {
    public var entries: [ExportedScore]
    /// Where the next page starts; `nil` after the last.
    public var next: String?

    public init(entries: [ExportedScore], next: String?) {
        self.entries = entries
        self.next = next
    }
}

extension CacheKey {
    /// The smallest and largest 32-byte keys that start with `tag`: the model's whole key range.
    static func range(of tag: UInt64) -> (low: [UInt8], high: [UInt8]) {
        let head = withUnsafeBytes(of: tag.bigEndian) { Array($0) }
        return (head + [UInt8](repeating: 0, count: 24), head + [UInt8](repeating: 0xff, count: 24))
    }
}
