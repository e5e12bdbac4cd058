import Testing

@testable import RerankCore

@Suite struct BatchParserTests {
    let limits = RequestLimits(maxDocuments: 3)

    func parse(_ text: String) throws(RequestError) -> BatchParser.Batch {
        let bytes = Array(text.utf8)
        let result = bytes.withUnsafeBytes { buffer in Result { () throws(RequestError) in try BatchParser.parse(buffer, limits: limits) } }
        return try result.get()
    }

    func lines(_ text: String, model: String? = nil) throws(RequestError) -> BatchParser.Batch {
        let bytes = Array(text.utf8)
        let result = bytes.withUnsafeBytes { buffer in Result { () throws(RequestError) in try BatchParser.parseLines(buffer, model: model, limits: limits) } }
        return try result.get()
    }

    @Test func eachRequestIsParsedLikeAV1Body() throws {
        let batch = try parse(#"{"model":"m","requests":[{"query":"q","documents":["a",{"text":"b"}],"top_n":1},{"query":"r","documents":["c"]}],"extra":1}"#)
        #expect(batch.model == "m")
        #expect(batch.requests.map(\.query) == ["q", "r"])
        #expect(batch.requests[0].texts == ["a", "b"])
        #expect(batch.requests[0].topN == 1)
        #expect(batch.requests.allSatisfy { $0.model == "m" && $0.dialect == .documents })
        #expect(batch.pairCount == 3)
    }

    @Test func aRequestsErrorNamesItsPosition() {
        #expect(throws: RequestError.invalid("requests[1]: more than 3 documents: batch size > maximum allowed batch size 3 (server.max_documents)", param: "requests[1]")) {
            try parse(#"{"requests":[{"query":"q","documents":["a"]},{"query":"q","documents":["a","b","c","d"]}]}"#)
        }
        #expect(throws: RequestError.self) { try parse(#"{"model":"m","requests":[{"model":"n","query":"q","documents":["a"]}]}"#) }
        #expect(throws: RequestError.self) { try parse(#"{"model":"m"}"#) }
        #expect(throws: RequestError.self) { try parse(#"{"requests":{}}"#) }
        #expect(throws: RequestError.self) { try parse(#"{"requests":[]} x"#) }
        #expect(throws: RequestError.self) { try parse(#"[1]"#) }
    }

    @Test func ndjsonHasOneRequestPerLineAndSkipsBlankLines() throws {
        let batch = try lines("{\"query\":\"q\",\"documents\":[\"a\"]}\n\n{\"model\":\"m\",\"query\":\"r\",\"documents\":[\"b\",\"c\"]}\r\n", model: "m")
        #expect(batch.requests.map(\.query) == ["q", "r"])
        #expect(batch.model == "m")
        #expect(throws: RequestError.invalid("requests[1]: model \"n\" differs from the batch's model \"m\"", param: "requests[1].model")) {
            try lines("{\"model\":\"m\",\"query\":\"q\",\"documents\":[\"a\"]}\n{\"model\":\"n\",\"query\":\"q\",\"documents\":[\"a\"]}")
        }
    }
}
