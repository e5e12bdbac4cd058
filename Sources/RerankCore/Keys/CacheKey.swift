import Crypto

/// The 256-bit identity of one scored pair: SHA-256 over ``CacheKeyEncoder``'s canonical encoding.
///
/// Stored as four words so that hashing and equality are a handful of integer operations.
/// ```swift
/// let encoder = CacheKeyEncoder(model: "bge-reranker-v2-m3", revision: "", settings: .init(), query: "q")
/// let key = encoder.key(document: "a passage")
/// ```
public struct CacheKey: Hashable, Sendable, CustomStringConvertible {
    public let w0: UInt64
    public let w1: UInt64
    public let w2: UInt64
    public let w3: UInt64

    /// Creates a key from exactly 32 bytes (a SHA-256 digest or a stored blob); `nil` for any other length.
    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == 32 else { return nil }
        var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        withUnsafeMutableBytes(of: &words) { raw in
            for (offset, byte) in bytes.enumerated() { raw[offset] = byte }
        }
        self.w0 = UInt64(bigEndian: words.0)
        self.w1 = UInt64(bigEndian: words.1)
        self.w2 = UInt64(bigEndian: words.2)
        self.w3 = UInt64(bigEndian: words.3)
    }

    init(digest: SHA256.Digest) {
        var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        digest.withUnsafeBytes { source in
            withUnsafeMutableBytes(of: &words) { $0.copyMemory(from: source) }
        }
        self.w0 = UInt64(bigEndian: words.0)
        self.w1 = UInt64(bigEndian: words.1)
        self.w2 = UInt64(bigEndian: words.2)
        self.w3 = UInt64(bigEndian: words.3)
    }

    /// The 32 digest bytes in their original order (the SQLite and Redis representation).
    public var bytes: [UInt8] {
        var words = (w0.bigEndian, w1.bigEndian, w2.bigEndian, w3.bigEndian)
        return withUnsafeBytes(of: &words) { Array($0) }
    }

    public func hash(into hasher: inout Hasher) {
        // The words are already uniformly distributed; one is enough to spread buckets.
        hasher.combine(w0)
    }

    /// Lower-case hex of the digest.
    public var description: String {
        var out = ""
        out.reserveCapacity(64)
        for word in [w0, w1, w2, w3] {
            let hex = String(word, radix: 16)
            out += String(repeating: "0", count: 16 - hex.count) + hex
        }
        return out
    }
}
