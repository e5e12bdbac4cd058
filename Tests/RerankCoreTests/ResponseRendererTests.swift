import Foundation
import Testing

@testable import RerankCore

@Suite struct ResponseRendererTests {
    func json(_ bytes: [UInt8]) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(bytes))
    }

    let awkward: [Double] = [0.1, 1.0 / 3.0, 5e-324, 0.9999999999999999, -2.5e-7, 123456.789]

    @Test func scoresRoundTripBitForBit() throws {
        let request = RerankRequest(dialect: .documents, model: nil, query: "q", texts: awkward.map { "\($0)" })
        let bytes = ResponseRenderer.render(RerankResult(id: "x", model: "m", scores: awkward, promptTokens: 0), for: request)
        let decoded = try JSONDecoder().decode(Probe.self, from: Data(bytes))
        for result in decoded.results {
            #expect(result.relevance_score.bitPattern == awkward[result.index].bitPattern)
        }
        #expect(decoded.results.map(\.index) == Ranking.order(scores: awkward, topN: nil))
    }

    struct Probe: Decodable {
        struct Item: Decodable {
            var index: Int
            var relevance_score: Double
            var document: [String: String]?
        }
        var id: String
        var model: String
        var results: [Item]
        var usage: [String: Int]
    }

    @Test func documentsDialectShape() throws {
        let request = RerankRequest(
            dialect: .documents, model: "m", query: "q", texts: ["a \"quoted\"\n", "b"],
            originals: [nil, RawJSON(validating: Array(#"{"text":"b","id":7}"#.utf8))], topN: 1, returnDocuments: true
        )
        let bytes = ResponseRenderer.render(RerankResult(id: "rerank-1", model: "m", scores: [0.2, 0.8], promptTokens: 5), for: request)
        let object = try #require(try json(bytes) as? [String: Any])
        let results = try #require(object["results"] as? [[String: Any]])
        #expect(results.count == 1)
        #expect(results[0]["index"] as? Int == 1)
        let document = try #require(results[0]["document"] as? [String: Any])
        #expect(document["text"] as? String == "b")
        #expect(document["id"] as? Int == 7)
        #expect((object["usage"] as? [String: Int]) == ["prompt_tokens": 5, "total_tokens": 5])
        #expect(object["model"] as? String == "m")
        #expect(object["meta"] != nil)
        #expect(object["object"] == nil)

        let all = RerankRequest(dialect: .documents, model: "m", query: "q", texts: ["a \"quoted\"\n\u{1}", "b"], returnDocuments: true)
        let allBytes = ResponseRenderer.render(RerankResult(id: "r", model: "m", scores: [0.9, 0.1], promptTokens: 0), for: all)
        let first = try #require((try json(allBytes) as? [String: Any])?["results"] as? [[String: Any]])
        #expect((first[0]["document"] as? [String: Any])?["text"] as? String == "a \"quoted\"\n\u{1}")
    }

    @Test func v2OmitsDocumentsUnlessAsked() throws {
        let request = RerankRequest(dialect: .documentsV2, model: "m", query: "q", texts: ["a"], returnDocuments: false)
        let object = try #require(try json(ResponseRenderer.render(RerankResult(id: "r", model: "m", scores: [0.5], promptTokens: 0), for: request)) as? [String: Any])
        let results = try #require(object["results"] as? [[String: Any]])
        #expect(results[0]["document"] == nil)
        #expect(((object["meta"] as? [String: Any])?["api_version"] as? [String: Any])?["version"] as? String == "2")
    }

    @Test func teiIsABareSortedArrayNeverTruncated() throws {
        let request = RerankRequest(dialect: .tei, model: nil, query: "q", texts: ["a", "b", "c"], topN: 1, returnDocuments: true)
        let array = try #require(try json(ResponseRenderer.render(RerankResult(id: "r", model: "m", scores: [0.1, 0.7, 0.4], promptTokens: 0), for: request)) as? [[String: Any]])
        #expect(array.map { $0["index"] as? Int } == [1, 2, 0])
        #expect(array.map { $0["text"] as? String } == ["b", "c", "a"])
        #expect(array[0]["score"] as? Double == 0.7)
    }

    @Test func errorBodiesCarryEveryClientsField() throws {
        let object = try #require(try json(ResponseRenderer.documentsError(message: "bad", type: "BadRequestError", param: "query", code: 400)) as? [String: Any])
        #expect(object["message"] as? String == "bad")
        #expect(object["detail"] as? String == "bad")
        let error = try #require(object["error"] as? [String: Any])
        #expect(error["message"] as? String == "bad")
        #expect(error["param"] as? String == "query")
        #expect(error["code"] as? Int == 400)
        let tei = try #require(try json(ResponseRenderer.teiError(message: "empty", errorType: "Empty")) as? [String: String])
        #expect(tei == ["error": "empty", "error_type": "Empty"])
    }
}
