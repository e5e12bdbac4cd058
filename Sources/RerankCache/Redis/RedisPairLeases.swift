import RerankCore
import Synchronization

/// ``PairLeases`` in Redis, on a ``RedisCacheStore``'s connection pool (get it as ``RedisCacheStore/leases``).
///
/// - acquire: one pipeline of `SET <prefix>lease:<key> <owner> NX PX <lease>` and `GET` of each lease key (a
///   lease this process already holds is its own), then one `MGET` of the value keys: a pair another replica
///   scored and released after this one's lookup missed is not leased again (`false`: `wait` reads its score);
/// - wait: polls, with backoff from 2 ms doubling to 50 ms, one pipeline of `MGET` of the value keys and
///   `MGET` of the lease keys, until each key has a score or its lease is gone, or the deadline passes;
/// - release: one `EVAL` that deletes each lease key only while it still holds this owner's id (a lease that
///   expired and was taken by another replica is left alone); ``release(_:storing:)`` first writes the
///   scores (`SET … PX ttl`) in the same pipeline, so waiters see them before the lease disappears.
///
/// Best effort, as the protocol says: with Redis down or slow, acquire answers all `true`, wait all `nil`,
/// release does nothing. The owner id is random per instance (one instance per process).
public final class RedisPairLeases: PairLeases {
    let pool: RedisConnectionPool
    let keyspace: RedisKeyspace
    public let lease: Duration
    /// Random per instance: which process holds a lease.
    public let ownerID: String
    let minPoll: Duration
    let maxPoll: Duration
    /// Paces the polls (tests move a manual clock to let a waiter poll again); the caller's deadline is real time.
    let time: TimeSource

    init(
        pool: RedisConnectionPool, keyspace: RedisKeyspace, lease: Duration, time: TimeSource = .continuous,
        minPoll: Duration = .milliseconds(2), maxPoll: Duration = .milliseconds(50)
    ) {
        self.pool = pool
        self.time = time
        self.keyspace = keyspace
        self.lease = lease
        self.ownerID = (0..<4).map { _ in String(UInt64.random(in: .min ... .max), radix: 16) }.joined()
        self.minPoll = minPoll
        self.maxPoll = maxPoll
    }

    private var leaseMilliseconds: [UInt8] {
        let c = lease.components
        return Array(String(max(1, c.seconds * 1000 + c.attoseconds / 1_000_000_000_000_000)).utf8)
    }

    /// Takes each free lease; a lease this process already holds counts as taken too (a release that timed
    /// out must not leave this process waiting on itself until the lease expires; within one process the
    /// coalescer already keeps a key to one flight). One pipeline: `SET NX PX` per key, `GET` per key, then
    /// `MGET` of the value keys: a key that already has a score answers `false` (its owner stored it and let
    /// go between this replica's lookup and now), and a lease just taken on it is given back at once.
    public func acquire(_ keys: [CacheKey]) async -> [Bool] {
        guard !keys.isEmpty else { return [] }
        let owner = Array(ownerID.utf8)
        let ms = leaseMilliseconds
        let commands = keys.map { [Array("SET".utf8), keyspace.leaseKey($0), owner, Array("NX".utf8), Array("PX".utf8), ms] }
            + keys.map { [Array("GET".utf8), keyspace.leaseKey($0)] } + [keyspace.mget(keys)]
        guard let replies = try? await pool.withConnection({ try $0.pipeline(commands) }), replies.count == 2 * keys.count + 1 else {
            return [Bool](repeating: true, count: keys.count)
        }
        var scored = [Bool](repeating: false, count: keys.count)
        if case .array(let values) = replies[2 * keys.count], values.count == keys.count {
            for (i, value) in values.enumerated() {
                if case .string(let bytes) = value, RedisKeyspace.decode(bytes) != nil { scored[i] = true }
            }
        }
        var owned: [Bool] = []
        var late: [CacheKey] = []
        for i in keys.indices {
            let taken =
                switch (replies[i], replies[keys.count + i]) {
                case (.null, .string(let holder)): holder == owner
                case (.null, _): false
                default: true  // OK, or an error reply: score it here (duplicate work at worst)
                }
            if taken && scored[i] && replies[i] != .null { late.append(keys[i]) }
            owned.append(taken && !scored[i])
        }
        if !late.isEmpty { await release(late) }
        return owned
    }

    public func wait(for keys: [CacheKey], until deadline: ContinuousClock.Instant) async -> [Double?] {
        var scores = [Double?](repeating: nil, count: keys.count)
        var open = Array(keys.indices)
        var pause = minPoll
        while !open.isEmpty {
            let asked = open.map { keys[$0] }
            let commands = [keyspace.mget(asked), keyspace.mget(asked, lease: true)]
            guard let replies = try? await pool.withConnection({ try $0.pipeline(commands) }),
                case .array(let values) = replies.first, case .array(let holders) = replies.last,
                values.count == asked.count, holders.count == asked.count
            else { break }
            var stillOpen: [Int] = []
            for (n, i) in open.enumerated() {
                if case .string(let bytes) = values[n], let score = RedisKeyspace.decode(bytes) {
                    scores[i] = score
                } else if case .string = holders[n] {
                    stillOpen.append(i)
                }
                // else: no score and no lease: the holder gave up or died; nil, take over.
            }
            open = stillOpen
            guard !open.isEmpty else { break }
            let left = ContinuousClock.now.duration(to: deadline)
            guard left > .zero else { break }
            do {
                try await time.sleep(for: min(pause, left))
            } catch {
                break
            }
            pause = min(pause * 2, maxPoll)
        }
        return scores
    }

    public func release(_ keys: [CacheKey]) async {
        await release(keys, storing: [])
    }

    public func release(_ keys: [CacheKey], storing scores: [(key: CacheKey, score: Double)]) async {
        guard !keys.isEmpty || !scores.isEmpty else { return }
        var commands = scores.map { keyspace.setCommand($0.key, score: $0.score) }
        if !keys.isEmpty {
            commands.append([Array("EVAL".utf8), Self.releaseScript, Array(String(keys.count).utf8)] + keys.map { keyspace.leaseKey($0) } + [Array(ownerID.utf8)])
        }
        _ = try? await pool.withConnection { [commands] in try $0.pipeline(commands) }
    }

    /// Deletes each KEYS[i] whose value is still ARGV[1] (this owner).
    static let releaseScript = Array(
        "for _, k in ipairs(KEYS) do if redis.call('get', k) == ARGV[1] then redis.call('del', k) end end return 0".utf8
    )
}
