import Foundation
import GRDB
import InMemoryLogging
import Logging
import Synchronization
import Testing

@testable import RerankCache
@testable import RerankCore

/// A cache is only a cache: unusable files are moved aside, the entry count is kept, not counted, and a
/// full write queue is counted and logged once per episode.
@Suite struct SQLiteCacheStoreHealthTests {
    // MARK: - The entry count lives in the meta table

    @Test func theEntryCountIsReadFromTheMetaRowNotCounted() async throws {
        let path = temporarySQLitePath()
        do {
            let store = try SQLiteCacheStore(configuration: .init(path: path), logger: testLogger)
            store.save((0..<10).map { (testKey($0), CachedScore(score: Double($0), storedAt: 1)) })
            try await store.flush()
            store.close()
        }
        // Delete rows behind the store's back: a COUNT(*) at open would see 7, the meta row still says 10.
        try await DatabaseQueue(path: path).write { db in try db.execute(sql: "DELETE FROM scores WHERE key IN (SELECT key FROM scores LIMIT 3)") }
        let reopened = try SQLiteCacheStore(configuration: .init(path: path), logger: testLogger)
        #expect(reopened.entryCount == 10)
        reopened.close()
    }

    @Test func theMetaCountFollowsInsertsAndDeletesInTheirTransactions() async throws {
        let path = temporarySQLitePath()
        let store = try SQLiteCacheStore(configuration: .init(path: path, maxEntries: 5), logger: testLogger)
        store.save((0..<8).map { (testKey($0), CachedScore(score: Double($0), storedAt: Int64(100 + $0))) })
        try await store.flush()
        // A rewrite of a stored key is not a new row.
        store.save([(testKey(0), CachedScore(score: 0.5, storedAt: 200))])
        try await store.flush()
        #expect(try storedCounts(path) == .init(meta: 8, rows: 8))
        #expect(try await store.sweep() == 3)
        #expect(store.entryCount == 5)
        #expect(try storedCounts(path) == .init(meta: 5, rows: 5))
        store.close()
    }

    @Test func aFileFromBeforeTheMetaTableIsCountedOnceAndThenKept() async throws {
        let path = temporarySQLitePath()
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try await DatabaseQueue(path: path).write { db in
            try db.execute(sql: "CREATE TABLE scores (key BLOB PRIMARY KEY NOT NULL, score REAL NOT NULL, stored_at INTEGER NOT NULL) WITHOUT ROWID")
            for n in 0..<7 { try db.execute(sql: "INSERT INTO scores VALUES (?, ?, 1)", arguments: [Data(testKey(n).bytes), Double(n)]) }
        }
        let store = try SQLiteCacheStore(configuration: .init(path: path), logger: testLogger)
        #expect(store.entryCount == 7)
        #expect(try storedCounts(path) == .init(meta: 7, rows: 7))
        #expect(try await store.lookup([testKey(3)])[0]?.score == 3)
        store.close()
    }

    // MARK: - Unusable files

    @Test func aCorruptFileIsMovedAsideAndANewOneServes() async throws {
        let path = temporarySQLitePath()
        let directory = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let garbage = Data((0..<8192).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) })
        try garbage.write(to: URL(fileURLWithPath: path))
        let logs = InMemoryLogHandler()
        let opened = try SQLiteCacheStore.open(
            configuration: .init(path: path), logger: Logger(label: "test") { _ in logs }, now: { 1_790_000_000 }
        )
        #expect(opened.movedAside == path + ".corrupt-20260921T141320Z")
        #expect(try Data(contentsOf: URL(fileURLWithPath: try #require(opened.movedAside))) == garbage)
        #expect(logs.entries.filter { $0.level == .error }.count == 1)
        let store = opened.store
        #expect(store.entryCount == 0)
        store.save([(testKey(1), CachedScore(score: 0.25, storedAt: 1))])
        try await store.flush()
        #expect(try await store.lookup([testKey(1)])[0]?.score == 0.25)
        store.close()
        #expect(try storedCounts(path) == .init(meta: 1, rows: 1))
    }

    @Test func aSecondCorruptFileInTheSameSecondGetsItsOwnName() throws {
        let path = temporarySQLitePath()
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        var moved: [String] = []
        for _ in 0..<2 {
            try Data(repeating: 0xAB, count: 4096).write(to: URL(fileURLWithPath: path))
            let opened = try SQLiteCacheStore.open(configuration: .init(path: path), logger: testLogger, now: { 0 })
            moved.append(try #require(opened.movedAside))
            opened.store.close()
        }
        #expect(moved == [path + ".corrupt-19700101T000000Z", path + ".corrupt-19700101T000000Z-2"])
    }

    @Test(arguments: [UnusablePath.directoryAtThePath, .parentIsAFile])
    func aPathThatCannotHoldAFileIsAnErrorAndIsLeftAlone(_ kind: UnusablePath) throws {
        let path = try kind.make()
        #expect(throws: CacheError.self) {
            try SQLiteCacheStore.open(configuration: .init(path: path), logger: testLogger)
        }
        let siblings = try FileManager.default.contentsOfDirectory(atPath: (kind.root(of: path) as NSString).deletingLastPathComponent)
        #expect(!siblings.contains { $0.contains(".corrupt-") })
    }

    // MARK: - A full write queue

    @Test func droppedWritesAreCountedAndLoggedOncePerEpisode() async throws {
        let logs = InMemoryLogHandler()
        let observer = CountingObserver()
        let store = try SQLiteCacheStore(
            configuration: .init(path: temporarySQLitePath(), maxPending: 3), logger: Logger(label: "test") { _ in logs }, observer: observer
        )
        func messages() -> [String] { logs.entries.map { "\($0.level): \($0.message)" } }
        store.save((0..<5).map { (testKey($0), CachedScore(score: Double($0), storedAt: 1)) })
        store.save([(testKey(5), CachedScore(score: 5, storedAt: 1))])
        #expect(store.droppedWriteCount == 3)
        #expect(observer.dropped == 3)
        #expect(store.health != .ok)
        #expect(messages() == ["warning: cache write queue is full; new scores are not persisted until it drains"])
        // The interval that ends with this flush had drops: still dropping.
        try await store.flush()
        #expect(store.health != .ok)
        store.save([(testKey(6), CachedScore(score: 6, storedAt: 1))])
        // A whole interval without a drop ends the episode, logged once.
        try await store.flush()
        #expect(store.health == .ok)
        try await store.flush()
        #expect(messages().count == 2)
        #expect(logs.entries.last?.level == .info)
        #expect(logs.entries.last?.metadata["rerank.cache.dropped"] == "3")
        store.close()
    }

    @Test func failingCommitsAreLoggedOnceAndRetried() async throws {
        let path = temporarySQLitePath()
        let logs = InMemoryLogHandler()
        let store = try SQLiteCacheStore(configuration: .init(path: path), logger: Logger(label: "test") { _ in logs })
        // Another connection adds a trigger that fails every insert: commits fail until it is dropped.
        let blocker = try DatabaseQueue(path: path)
        try await blocker.write { db in
            try db.execute(sql: "CREATE TRIGGER refuse BEFORE INSERT ON scores BEGIN SELECT RAISE(ABORT, 'refused'); END")
        }
        store.save([(testKey(1), CachedScore(score: 1, storedAt: 1))])
        await #expect(throws: CacheError.self) { try await store.flush() }
        await #expect(throws: CacheError.self) { try await store.flush() }
        #expect(store.health != .ok)
        #expect(store.pendingScore(testKey(1))?.score == 1)
        try await blocker.write { db in try db.execute(sql: "DROP TRIGGER refuse") }
        try await store.flush()
        #expect(store.health == .ok)
        #expect(try await store.lookup([testKey(1)])[0]?.score == 1)
        #expect(logs.entries.map(\.level) == [.warning, .info])
        try blocker.close()
        store.close()
    }
}

enum UnusablePath: CustomStringConvertible, Sendable {
    case directoryAtThePath
    case parentIsAFile

    var description: String { self == .directoryAtThePath ? "a directory at the path" : "the path's directory is a file" }

    /// Creates the obstacle and returns the configured path.
    func make() throws -> String {
        let path = temporarySQLitePath()
        let directory = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        switch self {
        case .directoryAtThePath:
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            return path
        case .parentIsAFile:
            try Data("not a directory".utf8).write(to: URL(fileURLWithPath: directory + "/data"))
            return directory + "/data/scores.sqlite"
        }
    }

    /// The file-system entry `make` created.
    func root(of path: String) -> String {
        self == .directoryAtThePath ? path : (path as NSString).deletingLastPathComponent
    }
}

struct StoredCounts: Equatable {
    var meta: Int
    var rows: Int
}

/// The `meta` entry count and the real row count of a closed or open cache file.
func storedCounts(_ path: String) throws -> StoredCounts {
    try DatabaseQueue(path: path).read { db in
        StoredCounts(
            meta: try Int.fetchOne(db, sql: "SELECT value FROM meta WHERE name = 'entries'") ?? -1,
            rows: try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM scores") ?? -1
        )
    }
}

final class CountingObserver: CacheStoreObserver {
    private let count = Mutex(0)
    var dropped: Int { count.withLock { $0 } }
    func cacheWritesDropped(tier: String, count: Int) { self.count.withLock { $0 += count } }
}
