import Foundation
import RerankCache
import RerankCore
import Synchronization

/// A score store and lease table shared by several in-process "replicas", behaving like the Redis ones:
/// writes are visible at once, a lease is held by one owner until released or expired.
final class FakeSharedStore: CacheStore, Sendable {
    let name = "shared"
    let scores = Mutex<[CacheKey: CachedScore]>([:])
    var entryCount: Int { scores.withLock { $0.count } }

    func lookup(_ keys: [CacheKey]) async throws(CacheError) -> [CachedScore?] {
        scores.withLock { table in keys.map { table[$0] } }
    }

    func save(_ entries: [(key: CacheKey, score: CachedScore)]) {
        scores.withLock { table in for entry in entries { table[entry.key] = entry.score } }
    }

    func pendingScore(_ key: CacheKey) -> CachedScore? { nil }
}

/// One replica's view of the shared lease table.
struct FakePairLeases: PairLeases {
    final class Table: Sendable {
        let leases = Mutex<[CacheKey: (owner: String, until: ContinuousClock.Instant)]>([:])
        let store: FakeSharedStore
        let lease: Duration
        init(store: FakeSharedStore, lease: Duration) {
            self.store = store
            self.lease = lease
        }
    }

    let owner: String
    let table: Table

    func acquire(_ keys: [CacheKey]) async -> [Bool] {
        let now = ContinuousClock.now
        return table.leases.withLock { leases in
            keys.map { key in
                if let held = leases[key], held.until > now { return held.owner == owner }
                leases[key] = (owner, now + table.lease)
                return true
            }
        }
    }

    func wait(for keys: [CacheKey], until deadline: ContinuousClock.Instant) async -> [Double?] {
        while true {
            let now = ContinuousClock.now
            let scores = table.store.scores.withLock { table in keys.map { table[$0]?.score } }
            let open = table.leases.withLock { leases in keys.map { leases[$0].map { $0.until > now } ?? false } }
            let settled = zip(scores, open).allSatisfy { $0.0 != nil || !$0.1 }
            if settled || now >= deadline { return scores }
            try? await Task.sleep(for: .milliseconds(2))
        }
    }

    func release(_ keys: [CacheKey]) async {
        table.leases.withLock { leases in
            for key in keys where leases[key]?.owner == owner { leases.removeValue(forKey: key) }
        }
    }
}
