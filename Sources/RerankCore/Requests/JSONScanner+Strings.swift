// MARK: - Strings: validation and word-at-a-time search

extension JSONScanner {
    /// Skips a string starting at its opening quote, validating UTF-8, escapes and surrogate pairs.
    /// - Returns: whether it contained an escape.
    @discardableResult
    mutating func skipString() throws(Error) -> Bool {
        index &+= 1
        var escaped = false
        while true {
            while index &+ 8 <= end {
                let mask = Self.specialBytes(Self.load8(base + index))
                if mask != 0 {
                    index &+= mask.trailingZeroBitCount &>> 3
                    break
                }
                index &+= 8
            }
            guard index < end else { throw fail("unterminated string") }
            let c = base[index]
            if c == UInt8(ascii: "\"") {
                index &+= 1
                return escaped
            } else if c == UInt8(ascii: "\\") {
                try skipEscape()
                escaped = true
            } else if c < 0x20 {
                throw fail("unescaped control character in a string")
            } else if c < 0x80 {
                index &+= 1
            } else {
                try skipNonASCII()
            }
        }
    }

    private mutating func skipEscape() throws(Error) {
        switch byte(at: index &+ 1) {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
            UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
            index &+= 2
        case UInt8(ascii: "u"):
            guard let unit = hex4(at: index &+ 2) else { throw fail("invalid \\u escape") }
            if unit & 0xFC00 == 0xDC00 { throw fail("lone surrogate in a \\u escape") }
            index &+= 6
            if unit & 0xFC00 == 0xD800 {
                guard byte(at: index) == UInt8(ascii: "\\"), byte(at: index &+ 1) == UInt8(ascii: "u"),
                    let low = hex4(at: index &+ 2), low & 0xFC00 == 0xDC00
                else { throw fail("lone surrogate in a \\u escape") }
                index &+= 6
            }
        default:
            throw fail("invalid escape")
        }
    }

    /// Validates a run of multi-byte UTF-8 scalars from `index` up to the next ASCII byte
    /// (Unicode Table 3-7: no overlongs, no surrogates, nothing above U+10FFFF).
    private mutating func skipNonASCII() throws(Error) {
        while index < end {
            let lead = base[index]
            if lead < 0x80 { return }
            let length: Int
            var low: UInt8 = 0x80
            var high: UInt8 = 0xBF
            switch lead {
            case 0xC2...0xDF: length = 2
            case 0xE0...0xEF:
                length = 3
                if lead == 0xE0 { low = 0xA0 } else if lead == 0xED { high = 0x9F }
            case 0xF0...0xF4:
                length = 4
                if lead == 0xF0 { low = 0x90 } else if lead == 0xF4 { high = 0x8F }
            default: throw fail("invalid UTF-8 in a string")
            }
            let second = byte(at: index &+ 1)
            guard second >= low, second <= high,
                length < 3 || Self.isContinuation(byte(at: index &+ 2)),
                length < 4 || Self.isContinuation(byte(at: index &+ 3))
            else { throw fail("invalid UTF-8 in a string") }
            index &+= length
        }
    }

    @inline(__always) private static func isContinuation(_ c: UInt8) -> Bool {
        c & 0xC0 == 0x80
    }

    @inline(__always) func hex4(at position: Int) -> UInt16? {
        var value: UInt16 = 0
        for offset in 0..<4 {
            let c = byte(at: position &+ offset)
            let digit: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = c &- UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = c &- UInt8(ascii: "a") &+ 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = c &- UInt8(ascii: "A") &+ 10
            default: return nil
            }
            value = value &<< 4 | UInt16(digit)
        }
        return value
    }

    // MARK: - Word-at-a-time search

    @inline(__always) static func load8(_ pointer: UnsafePointer<UInt8>) -> UInt64 {
        UInt64(littleEndian: UnsafeRawPointer(pointer).loadUnaligned(as: UInt64.self))
    }

    private static let ones: UInt64 = 0x0101_0101_0101_0101
    private static let highs: UInt64 = 0x8080_8080_8080_8080

    /// A mask whose lowest set bit lies in the first byte that is zero (exact for the lowest byte).
    @inline(__always) static func zeroBytes(_ w: UInt64) -> UInt64 {
        (w &- ones) & ~w & highs
    }

    /// Marks bytes a string scan must stop at: `"`, `\`, a control character, or a non-ASCII byte.
    @inline(__always) static func specialBytes(_ w: UInt64) -> UInt64 {
        let control = (w &- ones &* 0x20) & ~w & highs
        return control | zeroBytes(w ^ (ones &* 0x22)) | zeroBytes(w ^ (ones &* 0x5C)) | (w & highs)
    }

    /// Marks `"` and `\` only, for decoding a string that was already validated.
    @inline(__always) static func quoteOrBackslash(_ w: UInt64) -> UInt64 {
        zeroBytes(w ^ (ones &* 0x22)) | zeroBytes(w ^ (ones &* 0x5C))
    }
}
