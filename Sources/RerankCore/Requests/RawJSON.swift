/// One JSON value exactly as the client sent it: key order, whitespace and number spelling included.
///
/// Object documents are kept this way so that they are echoed back byte for byte; a 64-bit id such as
/// `12345678901234567891` is never rounded through a `Double`. The bytes are always one valid JSON value
/// (``RequestParser`` validated them), so writing them verbatim into a response is safe.
/// ```swift
/// let document = RawJSON(validating: Array(#"{"text":"a","id":12345678901234567891}"#.utf8))
/// ```
public struct RawJSON: Sendable, Equatable, CustomStringConvertible {
    /// The value's UTF-8 bytes.
    public let bytes: [UInt8]

    /// Wraps bytes that the caller has already validated as one JSON value.
    init(unchecked bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// Wraps `bytes` if they are exactly one valid JSON value (surrounding whitespace allowed); `nil` otherwise.
    public init?(validating bytes: [UInt8]) {
        let valid = bytes.withUnsafeBufferPointer { buffer -> Bool in
            guard let base = buffer.baseAddress else { return false }
            var scanner = JSONScanner(base: base, count: buffer.count)
            guard (try? scanner.skipValue(depth: 0)) != nil else { return false }
            scanner.skipWhitespace()
            return scanner.index == scanner.end
        }
        guard valid else { return nil }
        self.bytes = bytes
    }

    public var description: String {
        String(decoding: bytes, as: UTF8.self)
    }
}
