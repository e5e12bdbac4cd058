import Foundation
import RerankCore

/// A JSONL file of rerank requests, one `{"query", "documents", "top_n"?, "model"?}` object per line,
/// validated up front with the proxy's own parser so that a bad line stops the run before anything is sent.
///
/// Lines are kept as byte ranges into the (memory-mapped) file and forwarded verbatim, so object documents
/// and 64-bit ids reach the proxy exactly as written.
/// ```swift
/// let input = try InputFile(data: Data(contentsOf: url, options: .alwaysMapped))
/// input.totalPairs   // every (query, document) pair the file asks for
/// ```
public struct InputFile: Sendable {
    /// One request line.
    public struct Line: Sendable, Equatable {
        /// The line's bytes in ``InputFile/data``, without its newline.
        public var range: Range<Int>
        /// How many documents it ranks (pairs it costs).
        public var pairs: Int
        /// Its `"model"`, when it names one (overriding `--model` for this line).
        public var model: String?

        public init(range: Range<Int>, pairs: Int, model: String?) {
            self.range = range
            self.pairs = pairs
            self.model = model
        }
    }

    public let data: Data
    public let lines: [Line]
    public let totalPairs: Int

    /// Splits and validates `data`.
    /// - Throws: ``ClientError/input(line:message:)`` for the first line that is empty or not a valid
    ///   documents-dialect rerank request (1-based line number).
    public init(data: Data) throws(ClientError) {
        self.data = data
        var lines: [Line] = []
        var total = 0
        let limits = RequestLimits(maxDocuments: 1 << 40)
        let result = data.withUnsafeBytes { (buffer: UnsafeRawBufferPointer) -> ClientError? in
            let bytes = buffer.bindMemory(to: UInt8.self)
            var start = 0
            while start < bytes.count {
                let newline = bytes[start...].firstIndex(of: UInt8(ascii: "\n")) ?? bytes.count
                let number = lines.count + 1
                let slice = UnsafeRawBufferPointer(rebasing: buffer[start..<newline])
                guard slice.contains(where: { !($0 == 0x20 || $0 == 0x09 || $0 == 0x0D) }) else {
                    return .input(line: number, message: "empty line (every line must be one request)")
                }
                do throws(RequestParser.Failure) {
                    let request = try RequestParser.parse(slice, route: .v1, limits: limits)
                    lines.append(Line(range: start..<newline, pairs: request.texts.count, model: request.model))
                    total += request.texts.count
                } catch {
                    return .input(line: number, message: error.error.message)
                }
                start = newline + 1
            }
            return nil
        }
        if let result { throw result }
        self.lines = lines
        self.totalPairs = total
    }

    /// The bytes of line `index` (0-based), without its newline.
    public func bytes(ofLine index: Int) -> Data {
        data[data.startIndex + lines[index].range.lowerBound..<data.startIndex + lines[index].range.upperBound]
    }

    /// Pairs in lines `range`.
    public func pairs(in range: Range<Int>) -> Int {
        lines[range].reduce(0) { $0 + $1.pairs }
    }
}
