import Crypto

/// The 256-bit identity of one scored pair: an 8-byte model tag, then 24 bytes of SHA-256 over
/// ``CacheKeyEncoder``'s canonical encoding.
///
/// Layout (32 bytes, big-endian words):
/// - `w0`, bytes 0..<8: ``modelTag(_:)`` of the model's name. It depends on the name only (not the revision,
///   settings, tenant namespace or purge generation), so all of one model's keys share it and form one
///   contiguous range (SQLite primary-key range, Redis `SCAN MATCH prefix+tag*`): `rerank-proxy cache purge`
///   and `cache stats` find a model's keys without reading the others.
/// - `w1...w3`, bytes 8..<32: bytes 8..<32 of the pair's SHA-256 digest. 192 bits of digest keep collisions
///   out of reach (a 50% chance of any collision needs about 2^96 keys of one model).
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

    /// A key of the model with `tag`: the tag, then bytes 8..<32 of `digest` (its first 8 bytes are dropped).
    init(tag: UInt64, digest: SHA256.Digest) {
        var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        digest.withUnsafeBytes { source in
            withUnsafeMutableBytes(of: &words) { $0.copyMemory(from: source) }
        }
        self.w0 = tag
        self.w1 = UInt64(bigEndian: words.1)
        self.w2 = UInt64(bigEndian: words.2)
        self.w3 = UInt64(bigEndian: words.3)
    }

    /// The domain of ``modelTag(_:)``'s hash, so a tag can never equal the start of some other SHA-256 use here.
    static let modelTagDomain: [UInt8] = Array("rerank-proxy model tag".utf8) + [0]

    /// The first 8 bytes (big-endian) of SHA-256 over `"rerank-proxy model tag\0"` + the model name's UTF-8:
    /// the first word of every key of that model, whatever its revision, settings, tenant or generation.
    public static func modelTag(_ model: String) -> UInt64 {
        var hasher = SHA256()
        hasher.update(data: modelTagDomain)
        var model = model
        model.withUTF8 { hasher.update(bufferPointer: UnsafeRawBufferPointer($0)) }
        let digest = hasher.finalize()
        var first: UInt64 = 0
        digest.withUnsafeBytes { source in
            withUnsafeMutableBytes(of: &first) { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: source[0..<8])) }
        }
        return UInt64(bigEndian: first)
    }

    /// Parses the 64 hex digits of ``description`` (either case); `nil` for anything else.
    public init?(hex: some StringProtocol) {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(32)
        var high: UInt8?
        for unit in hex.utf8 {
            guard let nibble = Self.nibble(unit) else { return nil }
            if let h = high {
                bytes.append(h << 4 | nibble)
                high = nil
            } else {
                high = nibble
            }
        }
        guard high == nil else { return nil }
        self.init(bytes: bytes)
    }

    static func nibble(_ unit: UInt8) -> UInt8? {
        switch unit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): unit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): unit - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): unit - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// The 32 key bytes, tag first (the SQLite and Redis representation).
    public var bytes: [UInt8] {
        var words = (w0.bigEndian, w1.bigEndian, w2.bigEndian, w3.bigEndian)
        return withUnsafeBytes(of: &words) { Array($0) }
    }

    public func hash(into hasher: inout Hasher) {
        // w1...w3 are uniformly distributed digest bytes; one word is enough to spread buckets. Not w0: it is the
        // model tag, the same for every key of a model.
        hasher.combine(w1)
    }

    /// Lower-case hex of the digest.
    public var description: String {
        Hex.word(w0) + Hex.word(w1) + Hex.word(w2) + Hex.word(w3)
    }
}
