import RerankCore

/// How scores and leases are laid out in Redis.
///
/// - A score lives at `prefix + the 32 raw bytes of its CacheKey` (the same versioned key bytes as SQLite,
///   so proxies serving different models can share one Redis), as exactly 8 bytes: the IEEE-754 bit pattern
///   of the `Double`, **little-endian**. Any other length is not a score (a miss, counted as an error).
/// - A lease lives at `prefix + "lease:" + the 32 key bytes`, its value the owning process's id.
/// - Every score is written with `SET key value PX ttl` (plain `SET` when the TTL is 0).
struct RedisKeyspace: Sendable {
    let prefix: [UInt8]
    /// 0: no expiry.
    let ttlMilliseconds: Int64

    func valueKey(_ key: CacheKey) -> [UInt8] { prefix + key.bytes }

    func leaseKey(_ key: CacheKey) -> [UInt8] { prefix + Self.leaseInfix + key.bytes }

    static let leaseInfix = Array("lease:".utf8)

    func setCommand(_ key: CacheKey, score: Double) -> [[UInt8]] {
        var command: [[UInt8]] = [Self.set, valueKey(key), Self.encode(score)]
        if ttlMilliseconds > 0 { command += [Self.px, Array(String(ttlMilliseconds).utf8)] }
        return command
    }

    func mget(_ keys: some Sequence<CacheKey>, lease: Bool = false) -> [[UInt8]] {
        [Self.mgetName] + keys.map { lease ? leaseKey($0) : valueKey($0) }
    }

    static func encode(_ score: Double) -> [UInt8] {
        withUnsafeBytes(of: score.bitPattern.littleEndian) { Array($0) }
    }

    /// The score in an 8-byte value; `nil` for any other length.
    static func decode(_ bytes: [UInt8]) -> Double? {
        guard bytes.count == 8 else { return nil }
        var bits: UInt64 = 0
        withUnsafeMutableBytes(of: &bits) { $0.copyBytes(from: bytes) }
        return Double(bitPattern: UInt64(littleEndian: bits))
    }

    static let set = Array("SET".utf8)
    static let px = Array("PX".utf8)
    static let mgetName = Array("MGET".utf8)
}
