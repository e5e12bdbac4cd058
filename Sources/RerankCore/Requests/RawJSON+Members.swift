// MARK: - Reading members of a validated JSON object without decoding them

extension RawJSON {
    /// The exact bytes of the value of top-level member `name` in the JSON object `bytes`.
    ///
    /// The whole object is validated while it is scanned; the last occurrence of a repeated key wins, as in
    /// ``RequestParser``.
    /// - Returns: `nil` when `bytes` is not one valid JSON object or has no member `name`.
    public static func member(_ name: String, in bytes: [UInt8]) -> RawJSON? {
        let wanted = Array(name.utf8)
        return bytes.withUnsafeBufferPointer { buffer -> RawJSON? in
            guard let base = buffer.baseAddress else { return nil }
            var scanner = JSONScanner(base: base, count: buffer.count)
            var found: Range<Int>?
            var scratch: [UInt8] = []
            do {
                try scanner.expect(UInt8(ascii: "{"), "expected an object")
                scanner.skipWhitespace()
                if scanner.peek() == UInt8(ascii: "}") {
                    scanner.index &+= 1
                } else {
                    while true {
                        scanner.skipWhitespace()
                        guard scanner.peek() == UInt8(ascii: "\"") else { return nil }
                        let keyStart = scanner.index
                        try scanner.skipString()
                        var keyScanner = JSONScanner(base: base, count: buffer.count, index: keyStart)
                        let key = keyScanner.readString(scratch: &scratch)
                        try scanner.expect(UInt8(ascii: ":"), "expected ':'")
                        scanner.skipWhitespace()
                        let start = scanner.index
                        try scanner.skipValue(depth: 1)
                        if Array(key.utf8) == wanted { found = start..<scanner.index }
                        scanner.skipWhitespace()
                        if scanner.peek() == UInt8(ascii: ",") {
                            scanner.index &+= 1
                            continue
                        }
                        try scanner.expect(UInt8(ascii: "}"), "expected ',' or '}'")
                        break
                    }
                }
                scanner.skipWhitespace()
                guard scanner.index == scanner.end, let found else { return nil }
                return RawJSON(unchecked: Array(buffer[found]))
            } catch {
                return nil
            }
        }
    }

    /// The elements of this value when it is an array, each as its exact bytes; `nil` when it is not an array.
    public var arrayElements: [RawJSON]? {
        bytes.withUnsafeBufferPointer { buffer -> [RawJSON]? in
            guard let base = buffer.baseAddress else { return nil }
            var scanner = JSONScanner(base: base, count: buffer.count)
            var elements: [RawJSON] = []
            do {
                try scanner.expect(UInt8(ascii: "["), "expected an array")
                scanner.skipWhitespace()
                if scanner.peek() == UInt8(ascii: "]") { return [] }
                while true {
                    scanner.skipWhitespace()
                    let start = scanner.index
                    try scanner.skipValue(depth: 1)
                    elements.append(RawJSON(unchecked: Array(buffer[start..<scanner.index])))
                    scanner.skipWhitespace()
                    if scanner.peek() == UInt8(ascii: ",") {
                        scanner.index &+= 1
                        continue
                    }
                    try scanner.expect(UInt8(ascii: "]"), "expected ',' or ']'")
                    return elements
                }
            } catch {
                return nil
            }
        }
    }
}
