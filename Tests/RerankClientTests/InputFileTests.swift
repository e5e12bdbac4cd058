import Foundation
import RerankClient
import Testing

@Suite struct InputFileTests {
    @Test func eachLineIsOneRequestWithItsPairsAndModel() throws {
        let text = """
            {"query":"q1","documents":["a","b","c"],"top_n":1}
            {"query":"q2","documents":[{"text":"x","id":12345678901234567891}],"model":"other"}\r
            {"query":"q3","documents":[]}
            """
        let input = try InputFile(data: Data(text.utf8))
        #expect(input.lines.map(\.pairs) == [3, 1, 0])
        #expect(input.lines.map(\.model) == [nil, "other", nil])
        #expect(input.totalPairs == 4)
        #expect(input.pairs(in: 1..<3) == 1)
        // Forwarded verbatim: the 64-bit id is not rounded.
        #expect(String(decoding: input.bytes(ofLine: 1), as: UTF8.self).contains("12345678901234567891"))
        #expect(String(decoding: input.bytes(ofLine: 0), as: UTF8.self) == #"{"query":"q1","documents":["a","b","c"],"top_n":1}"#)
    }

    @Test func aTrailingNewlineAddsNoLine() throws {
        let input = try InputFile(data: Data("{\"query\":\"q\",\"documents\":[\"a\"]}\n".utf8))
        #expect(input.lines.count == 1)
    }

    @Test(arguments: [
        ("{\"query\":\"q\",\"documents\":[\"a\"]}\n\n{\"query\":\"q\",\"documents\":[\"a\"]}", 2, "empty line"),
        ("{\"query\":\"q\",\"documents\":[\"a\"]}\n{\"query\":\"q\",\"documents\":[\"a\"]", 2, "JSON"),
        ("{\"documents\":[\"a\"]}", 1, "query"),
        ("{\"query\":\"q\",\"documents\":[\"a\"],\"top_n\":-1}", 1, "top_n"),
    ])
    func aBadLineIsRefusedWithItsNumber(text: String, line: Int, mentions: String) {
        #expect {
            try InputFile(data: Data(text.utf8))
        } throws: { error in
            guard case ClientError.input(let number, let message) = error else { return false }
            return number == line && message.localizedCaseInsensitiveContains(mentions)
        }
    }
}

@Suite struct OutputPrefixTests {
    @Test func completeValidLinesAreKept() {
        let text = "{\"results\":[]}\n{\"results\":[{\"index\":0}]}\n"
        #expect(OutputPrefix(scanning: Array(text.utf8)) == OutputPrefix(lines: 2, byteCount: text.utf8.count))
    }

    @Test func aHalfWrittenLastLineIsCutOff() {
        let kept = "{\"results\":[]}\n"
        #expect(OutputPrefix(scanning: Array((kept + "{\"results\":[{\"ind").utf8)) == OutputPrefix(lines: 1, byteCount: kept.utf8.count))
        // Complete JSON without its newline was not finished being written either.
        #expect(OutputPrefix(scanning: Array((kept + "{\"results\":[]}").utf8)) == OutputPrefix(lines: 1, byteCount: kept.utf8.count))
    }

    @Test func everythingAfterABadLineIsDropped() {
        let kept = "{\"results\":[]}\n"
        let text = kept + "{\"res\n{\"results\":[]}\n"
        #expect(OutputPrefix(scanning: Array(text.utf8)) == OutputPrefix(lines: 1, byteCount: kept.utf8.count))
        #expect(OutputPrefix(scanning: [UInt8]()) == OutputPrefix(lines: 0, byteCount: 0))
    }
}
