/// Lower-case hexadecimal, zero-padded: cache keys, model tags and scores' bits in exports, digests in ids and ETags.
/// ```swift
/// Hex.word(0xab)          // "00000000000000ab"
/// Hex.bytes([0x0f, 0xa0]) // "0fa0"
/// ```
public enum Hex {
    /// The 16 digits of `value`.
    public static func word(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }

    /// Two digits per byte.
    public static func bytes(_ bytes: some Sequence<UInt8>) -> String {
        var out = ""
        for byte in bytes {
            if byte < 16 { out += "0" }
            out += String(byte, radix: 16)
        }
        return out
    }
}
