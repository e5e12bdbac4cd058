// MARK: - Decoding values that were already validated

/// These read values that ``JSONScanner/skipValue(depth:)`` has already accepted. They stay memory-safe on
/// any input (every read is bounds-checked), but they repair instead of reporting what validation rejects.
extension JSONScanner {
    /// Decodes the string whose opening quote is at `index` and moves past its closing quote.
    /// - Parameter scratch: reused buffer for strings with escapes; plain strings never touch it.
    mutating func readString(scratch: inout [UInt8]) -> String {
        index &+= 1
        let start = index
        skipToQuoteOrBackslash()
        guard index < end, base[index] == UInt8(ascii: "\\") else {
            let text = String(decoding: UnsafeBufferPointer(start: base + start, count: index &- start), as: UTF8.self)
            if index < end { index &+= 1 }
            return text
        }
        scratch.removeAll(keepingCapacity: true)
        var run = start
        while true {
            scratch.append(contentsOf: UnsafeBufferPointer(start: base + run, count: index &- run))
            guard index < end else { break }
            if base[index] == UInt8(ascii: "\"") {
                index &+= 1
                break
            }
            appendEscape(to: &scratch)
            run = index
            skipToQuoteOrBackslash()
        }
        return String(decoding: scratch, as: UTF8.self)
    }

    /// Reads a member key at `index` and moves past it; `nil` when the key has escapes and so must be decoded.
    @inline(__always) mutating func readPlainKey() -> UnsafeBufferPointer<UInt8>? {
        index &+= 1
        let start = index
        skipToQuoteOrBackslash()
        guard index < end, base[index] == UInt8(ascii: "\"") else {
            index = start &- 1
            return nil
        }
        index &+= 1
        return UnsafeBufferPointer(start: base + start, count: index &- 1 &- start)
    }

    /// The exact text of the number at `index`, moving past it; `nil` if there is no number there.
    mutating func readNumberText() -> (text: UnsafeBufferPointer<UInt8>, integral: Bool)? {
        let start = index
        guard let integral = try? skipNumber() else { return nil }
        return (UnsafeBufferPointer(start: base + start, count: index &- start), integral)
    }

    /// The integer at `index`: an integral number (`3`, `3.0`, `3e2`) that fits in `Int`; `nil` otherwise.
    mutating func readInt() -> Int? {
        guard let (text, integral) = readNumberText() else { return nil }
        if integral {
            var value = 0
            let negative = text[0] == UInt8(ascii: "-")
            for c in text[(negative ? 1 : 0)...] {
                let (times10, o1) = value.multipliedReportingOverflow(by: 10)
                let (next, o2) = negative ? times10.subtractingReportingOverflow(Int(c &- 0x30)) : times10.addingReportingOverflow(Int(c &- 0x30))
                guard !o1, !o2 else { return nil }
                value = next
            }
            return value
        }
        guard let double = Double(String(decoding: text, as: UTF8.self)), double.rounded() == double,
            double >= -9_223_372_036_854_775_808.0, double < 9_223_372_036_854_775_808.0
        else { return nil }
        return Int(double)
    }

    // MARK: - Helpers

    /// Moves `index` to the next `"` or `\` (or to `end`).
    @inline(__always) mutating func skipToQuoteOrBackslash() {
        while index &+ 8 <= end {
            let mask = Self.quoteOrBackslash(Self.load8(base + index))
            if mask != 0 {
                index &+= mask.trailingZeroBitCount &>> 3
                return
            }
            index &+= 8
        }
        while index < end, base[index] != UInt8(ascii: "\""), base[index] != UInt8(ascii: "\\") { index &+= 1 }
    }

    /// Decodes the escape at `index` (a backslash) into UTF-8; broken escapes become U+FFFD.
    private mutating func appendEscape(to out: inout [UInt8]) {
        let c = byte(at: index &+ 1)
        index &+= 2
        switch c {
        case UInt8(ascii: "b"): out.append(0x08)
        case UInt8(ascii: "f"): out.append(0x0C)
        case UInt8(ascii: "n"): out.append(0x0A)
        case UInt8(ascii: "r"): out.append(0x0D)
        case UInt8(ascii: "t"): out.append(0x09)
        case UInt8(ascii: "u"):
            guard let unit = hex4(at: index) else { return Self.appendUTF8(0xFFFD, to: &out) }
            index &+= 4
            var scalar = UInt32(unit)
            if unit & 0xFC00 == 0xD800 {
                if byte(at: index) == UInt8(ascii: "\\"), byte(at: index &+ 1) == UInt8(ascii: "u"),
                    let low = hex4(at: index &+ 2), low & 0xFC00 == 0xDC00
                {
                    index &+= 6
                    scalar = 0x10000 &+ (UInt32(unit & 0x3FF) &<< 10 | UInt32(low & 0x3FF))
                } else {
                    scalar = 0xFFFD
                }
            } else if unit & 0xFC00 == 0xDC00 {
                scalar = 0xFFFD
            }
            Self.appendUTF8(scalar, to: &out)
        case 0:
            index = min(index, end)
        default:
            out.append(c)  // \" \\ \/
        }
    }

    private static func appendUTF8(_ scalar: UInt32, to out: inout [UInt8]) {
        switch scalar {
        case ..<0x80:
            out.append(UInt8(scalar))
        case ..<0x800:
            out.append(UInt8(0xC0 | scalar >> 6))
            out.append(UInt8(0x80 | scalar & 0x3F))
        case ..<0x10000:
            out.append(UInt8(0xE0 | scalar >> 12))
            out.append(UInt8(0x80 | scalar >> 6 & 0x3F))
            out.append(UInt8(0x80 | scalar & 0x3F))
        default:
            out.append(UInt8(0xF0 | scalar >> 18))
            out.append(UInt8(0x80 | scalar >> 12 & 0x3F))
            out.append(UInt8(0x80 | scalar >> 6 & 0x3F))
            out.append(UInt8(0x80 | scalar & 0x3F))
        }
    }
}
