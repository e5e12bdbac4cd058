/// Byte-level JSON primitives over a borrowed buffer: validate-and-skip, and decode strings.
///
/// Every read is bounds-checked against `end`; past the end ``peek()`` reads as `0`, which no JSON
/// production accepts, so truncated input fails like any other syntax error. ``skipValue(depth:)`` is
/// iterative: nesting is tracked in one `UInt64` (a bit per open container), bounded by ``maxDepth``,
/// so hostile input can neither overflow the stack nor make it allocate.
/// ```swift
/// var scanner = JSONScanner(base: pointer, count: count)
/// try scanner.skipValue(depth: 0)
/// ```
struct JSONScanner {
    /// The deepest nesting accepted, counting the top-level value as level 1.
    static let maxDepth = 64

    let base: UnsafePointer<UInt8>
    let end: Int
    var index: Int

    init(base: UnsafePointer<UInt8>, count: Int, index: Int = 0) {
        self.base = base
        self.end = count
        self.index = index
    }

    /// Why a scan stopped, and where.
    struct Error: Swift.Error {
        enum Problem {
            case syntax(StaticString)
            case tooDeep
        }

        var problem: Problem
        var offset: Int
    }

    // MARK: - Bytes

    @inline(__always) func peek() -> UInt8 {
        index < end ? base[index] : 0
    }

    @inline(__always) func byte(at position: Int) -> UInt8 {
        position < end ? base[position] : 0
    }

    @inline(__always) func fail(_ reason: StaticString) -> Error {
        Error(problem: .syntax(reason), offset: index)
    }

    @inline(__always) mutating func skipWhitespace() {
        while index < end {
            let c = base[index]
            guard c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 else { return }
            index &+= 1
        }
    }

    /// Consumes `byte` (after whitespace) or fails.
    @inline(__always) mutating func expect(_ byte: UInt8, _ reason: StaticString) throws(Error) {
        skipWhitespace()
        guard peek() == byte else { throw fail(reason) }
        index &+= 1
    }

    // MARK: - Skipping (validating)

    /// Skips one value, validating it completely (grammar, UTF-8, escapes, surrogates, depth).
    /// - Parameter depth: how many containers are open around the value.
    /// - Throws: ``Error`` at the first problem; `index` is then unspecified.
    mutating func skipValue(depth: Int) throws(Error) {
        var stack: UInt64 = 0  // bit 0 is the innermost open container: 1 = object, 0 = array
        var level = 0
        while true {
            skipWhitespace()
            let c = peek()
            switch c {
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                guard depth &+ level < Self.maxDepth else { throw Error(problem: .tooDeep, offset: index) }
                index &+= 1
                skipWhitespace()
                let isObject = c == UInt8(ascii: "{")
                if peek() == (isObject ? UInt8(ascii: "}") : UInt8(ascii: "]")) {
                    index &+= 1
                } else {
                    level &+= 1
                    stack = stack &<< 1 | (isObject ? 1 : 0)
                    if isObject { try skipMemberKey() }
                    continue
                }
            case UInt8(ascii: "\""):
                try skipString()
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                try skipNumber()
            case UInt8(ascii: "t"):
                try skipLiteral("true")
            case UInt8(ascii: "f"):
                try skipLiteral("false")
            case UInt8(ascii: "n"):
                try skipLiteral("null")
            default:
                throw fail("expected a value")
            }
            // A value ended: close containers until one continues with ','.
            while level > 0 {
                skipWhitespace()
                let next = peek()
                let inObject = stack & 1 == 1
                if next == UInt8(ascii: ",") {
                    index &+= 1
                    if inObject { try skipMemberKey() }
                    break
                }
                guard next == (inObject ? UInt8(ascii: "}") : UInt8(ascii: "]")) else {
                    throw fail(inObject ? "expected ',' or '}'" : "expected ',' or ']'")
                }
                index &+= 1
                level &-= 1
                stack &>>= 1
            }
            if level == 0 { return }
        }
    }

    /// Skips `"key" :` inside an object.
    @inline(__always) private mutating func skipMemberKey() throws(Error) {
        skipWhitespace()
        guard peek() == UInt8(ascii: "\"") else { throw fail("expected a string key") }
        try skipString()
        try expect(UInt8(ascii: ":"), "expected ':'")
    }

    /// Skips `true`, `false` or `null`.
    @inline(__always) mutating func skipLiteral(_ literal: StaticString) throws(Error) {
        guard matches(literal) else { throw fail("invalid literal") }
        index &+= literal.utf8CodeUnitCount
    }

    /// Whether the bytes at `index` are `literal`.
    @inline(__always) func matches(_ literal: StaticString) -> Bool {
        let count = literal.utf8CodeUnitCount
        guard end &- index >= count else { return false }
        let text = literal.utf8Start
        for offset in 0..<count where base[index &+ offset] != text[offset] { return false }
        return true
    }

    /// Skips a number, validating RFC 8259's grammar.
    /// - Returns: whether it was a plain integer (no fraction, no exponent).
    @discardableResult
    mutating func skipNumber() throws(Error) -> Bool {
        if peek() == UInt8(ascii: "-") { index &+= 1 }
        let first = peek()
        if first == UInt8(ascii: "0") {
            index &+= 1
        } else if first >= UInt8(ascii: "1") && first <= UInt8(ascii: "9") {
            index &+= 1
            skipDigits()
        } else {
            throw fail("invalid number")
        }
        var integral = true
        if peek() == UInt8(ascii: ".") {
            index &+= 1
            guard Self.isDigit(peek()) else { throw fail("invalid number") }
            skipDigits()
            integral = false
        }
        if peek() | 0x20 == UInt8(ascii: "e") {
            index &+= 1
            if peek() == UInt8(ascii: "+") || peek() == UInt8(ascii: "-") { index &+= 1 }
            guard Self.isDigit(peek()) else { throw fail("invalid number") }
            skipDigits()
            integral = false
        }
        return integral
    }

    @inline(__always) private mutating func skipDigits() {
        while index < end, Self.isDigit(base[index]) { index &+= 1 }
    }

    @inline(__always) static func isDigit(_ c: UInt8) -> Bool {
        c &- UInt8(ascii: "0") < 10
    }
}
