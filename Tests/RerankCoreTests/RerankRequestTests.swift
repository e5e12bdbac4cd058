import Testing

@testable import RerankCore

@Suite struct RerankRequestTests {
    let limits = RequestLimits(maxDocuments: 5)

    func parse(_ json: String, route: RerankRoute = .v1) throws(RequestParser.Failure) -> RerankRequest {
        try RequestParser.parse(Array(json.utf8), route: route, limits: limits)
    }

    func error(_ json: String, route: RerankRoute = .v1) -> RequestError? {
        do {
            _ = try parse(json, route: route)
            return nil
        } catch {
            return error.error
        }
    }

    @Test func stringAndObjectDocuments() throws {
        let request = try parse(#"{"model":"m","query":"q","documents":["a",{"text":"b","id":3}]}"#)
        #expect(request.dialect == .documents)
        #expect(request.texts == ["a", "b"])
        #expect(request.originals[0] == nil)
        #expect(request.originals[1]?.description == #"{"text":"b","id":3}"#)
        #expect(request.model == "m")
    }

    @Test func rankFieldsJoinTheNamedFields() throws {
        let request = try parse(#"{"query":"q","rank_fields":["title","body"],"documents":[{"title":"T","body":"B","x":1}]}"#)
        #expect(request.texts == ["title: T\nbody: B"])
        #expect(error(#"{"query":"q","rank_fields":["nope"],"documents":[{"text":"t"}]}"#) != nil)
    }

    @Test(arguments: [
        (#""top_n":null"#, nil), (#""top_n":0"#, nil), (#""top_n":3"#, nil), (#""top_n":9"#, nil), (#""top_n":2"#, 2), ("\"x\":1", nil),
    ] as [(String, Int?)])
    func topNMeansAllUnlessSmaller(field: String, expected: Int?) throws {
        let request = try parse(#"{"query":"q","documents":["a","b","c"],"# + field + "}")
        #expect(request.topN == expected)
    }

    @Test func negativeTopNIsRefused() {
        #expect(error(#"{"query":"q","documents":["a"],"top_n":-1}"#) == .invalid("top_n must be >= 0 (0 or absent returns every document)", param: "top_n"))
    }

    @Test func returnDocumentsDefaultsByRoute() throws {
        #expect(try parse(#"{"query":"q","documents":["a"]}"#, route: .v1).returnDocuments)
        #expect(try parse(#"{"query":"q","documents":["a"]}"#, route: .rerank).returnDocuments)
        #expect(try !parse(#"{"query":"q","documents":["a"]}"#, route: .v2).returnDocuments)
        #expect(try parse(#"{"query":"q","documents":["a"],"return_documents":true}"#, route: .v2).returnDocuments)
        #expect(try !parse(#"{"query":"q","documents":["a"],"return_documents":"false"}"#, route: .v1).returnDocuments)
        #expect(try parse(#"{"query":"q","documents":["a"]}"#, route: .v2).dialect == .documentsV2)
    }

    @Test func teiDialectOnlyOnBareRerankWithTexts() throws {
        let tei = try parse(#"{"query":"q","texts":["a","b"],"raw_scores":true,"return_text":true,"truncation_direction":"left"}"#, route: .rerank)
        #expect(tei.dialect == .tei)
        #expect(tei.returnDocuments)
        #expect(tei.settings == ScoreSettings(rawScores: true, truncationDirection: .left))
        #expect(error(#"{"query":"q","texts":["a"]}"#, route: .v1) == .invalid("documents is required", param: "documents"))
        #expect(error(#"{"query":"q","texts":[]}"#, route: .rerank) == .empty("`texts` cannot be empty"))
        #expect(error(#"{"query":"q","texts":["a"],"documents":["a"]}"#, route: .rerank) != nil)
    }

    @Test func scoreSettingsFromEveryDialect() throws {
        #expect(try parse(#"{"query":"q","documents":["a"],"use_activation":false}"#).settings.rawScores)
        #expect(try !parse(#"{"query":"q","documents":["a"],"use_activation":true}"#).settings.rawScores)
        #expect(try parse(#"{"query":"q","documents":["a"],"truncate_prompt_tokens":64}"#).settings.truncatePromptTokens == 64)
        #expect(error(#"{"query":"q","documents":["a"],"truncation_direction":"middle"}"#) != nil)
    }

    @Test func limitsAndMissingFields() {
        #expect(error(#"{"query":"q","documents":["1","2","3","4","5","6"]}"#) == .tooManyDocuments(count: 6, limit: 5))
        #expect(error(#"{"documents":["a"]}"#) == .invalid("query is required", param: "query"))
        #expect(error(#"{"query":"q"}"#) == .invalid("documents is required", param: "documents"))
        #expect(error(#"{"query":"q","documents":[{"title":"no text"}]}"#) != nil)
    }

    @Test func wrongTypesFailToDecode() {
        for body in [#"{"query":1,"documents":["a"]}"#, #"{"query":"q","documents":[1]}"#, #"{"query":"q","documents":"a"}"#, #"{"query":"q","documents":["a"],"top_n":"x"}"#, "[1]"] {
            guard case .invalid? = error(body) else {
                Issue.record("\(body) was not refused as invalid")
                continue
            }
        }
    }

    @Test func emptyDocumentsIsValid() throws {
        #expect(try parse(#"{"query":"q","documents":[]}"#).texts.isEmpty)
    }
}
