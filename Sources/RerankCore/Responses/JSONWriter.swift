/// A minimal, allocation-light JSON writer for the responses on the hot path.
///
/// Doubles are written with Swift's shortest round-trip representation, so a score parsed back from
/// the output is bit-for-bit the `Double` that was written.
public struct JSONWriter: Sendable {
    public private(set) var bytes: [UInt8]

    public init(capacity: Int = 1024) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    @inline(__always) public mutating func raw(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    @inline(__always) public mutating func byte(_ value: UInt8) {
        bytes.append(value)
    }

    public mutating func int(_ value: Int) {
        var text = value.description
        text.withUTF8 { bytes.append(contentsOf: $0) }
    }

    /// Writes a finite double; non-finite values (never produced by a JSON backend) become `null`.
    public mutating func double(_ value: Double) {
        guard value.isFinite else { raw("null"); return }
        var text = value.description
        text.withUTF8 { bytes.append(contentsOf: $0) }
    }

    public mutating func bool(_ value: Bool) {
        value ? raw("true") : raw("false")
    }

    public mutating func string(_ value: String) {
        var value = value
        bytes.append(UInt8(ascii: "\""))
        value.withUTF8 { utf8 in
            var start = 0
            for i in 0..<utf8.count {
                let c = utf8[i]
                guard c < 0x20 || c == UInt8(ascii: "\"") || c == UInt8(ascii: "\\") else { continue }
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start..<i]))
                start = i + 1
                switch c {
                case UInt8(ascii: "\""): raw("\\\"")
                case UInt8(ascii: "\\"): raw("\\\\")
                case 0x0A: raw("\\n")
                case 0x0D: raw("\\r")
                case 0x09: raw("\\t")
                default:
                    let hex: [UInt8] = Array("0123456789abcdef".utf8)
                    raw("\\u00")
                    bytes.append(hex[Int(c >> 4)])
                    bytes.append(hex[Int(c & 0xF)])
                }
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start..<utf8.count]))
        }
        bytes.append(UInt8(ascii: "\""))
    }

    /// Writes a client's JSON value verbatim (it was validated when the request was parsed).
    public mutating func raw(_ json: RawJSON) {
        bytes.append(contentsOf: json.bytes)
    }

    /// Writes bytes this proxy rendered itself as one JSON value (a stored batch or job result).
    public mutating func append(_ json: [UInt8]) {
        bytes.append(contentsOf: json)
    }
}
