import RerankCore

/// The part of an existing output file a re-run keeps: the longest prefix of complete lines (ending in a
/// newline) that are each one valid JSON value. A half-written last line, or anything after the first bad
/// line, is cut off and those input lines are sent again.
/// ```swift
/// let prefix = OutputPrefix(scanning: existingBytes)
/// try handle.truncate(atOffset: UInt64(prefix.byteCount))   // then append from line prefix.lines
/// ```
public struct OutputPrefix: Sendable, Equatable {
    /// Complete, valid lines.
    public var lines: Int
    /// Their length in bytes, newlines included: where writing resumes.
    public var byteCount: Int

    public init(lines: Int, byteCount: Int) {
        self.lines = lines
        self.byteCount = byteCount
    }

    /// Scans an output file's bytes (read in place when they are contiguous, as a mapped file's are).
    public init(scanning bytes: some Collection<UInt8>) {
        self = bytes.withContiguousStorageIfAvailable(Self.scan) ?? Array(bytes).withUnsafeBufferPointer(Self.scan)
    }

    private static func scan(_ bytes: UnsafeBufferPointer<UInt8>) -> OutputPrefix {
        var lines = 0
        var start = 0
        while start < bytes.count, let newline = bytes[start...].firstIndex(of: UInt8(ascii: "\n")) {
            guard RawJSON(validating: Array(bytes[start..<newline])) != nil else { break }
            lines += 1
            start = newline + 1
        }
        return OutputPrefix(lines: lines, byteCount: start)
    }
}
