import Testing

@testable import RerankCore

@Suite struct RequestParserTests {
    func parse(_ json: String, route: RerankRoute = .v1, maxDocuments: Int = 5) throws(RequestParser.Failure) -> RerankRequest {
        try RequestParser.parse(Array(json.utf8), route: route, limits: RequestLimits(maxDocuments: maxDocuments))
    }

    func failure(_ body: [UInt8], route: RerankRoute = .v1, maxDocuments: Int = 5) -> RequestParser.Failure? {
        do {
            _ = try RequestParser.parse(body, route: route, limits: RequestLimits(maxDocuments: maxDocuments))
            return nil
        } catch {
            return error
        }
    }

    func failure(_ json: String, route: RerankRoute = .v1, maxDocuments: Int = 5) -> RequestParser.Failure? {
        failure(Array(json.utf8), route: route, maxDocuments: maxDocuments)
    }

    /// The message and param of a refusal, for `.invalid` errors.
    func invalid(_ json: String, route: RerankRoute = .v1) -> (message: String, param: String?)? {
        guard case .invalid(let message, let param)? = failure(json, route: route)?.error else { return nil }
        return (message, param)
    }

    // MARK: - Echoing object documents

    @Test func objectDocumentsKeepTheirExactBytes() throws {
        let documents = [
            #"{"text":"a","id":12345678901234567891}"#,
            #"{"z":1,"text":"a","a":[1.50,{"k":null}]}"#,
            "{ \"text\" : \"b\" ,\n \"n\": -0.0e+0 , \"u\":\"\\u00e9\" }",
        ]
        let request = try parse(#"{"query":"q","documents":["# + documents.joined(separator: " , ") + "]}")
        #expect(request.originals.map { $0?.description } == documents)
        #expect(request.texts == ["a", "a", "b"])

        let rendered = ResponseRenderer.render(
            RerankResult(id: "r", model: "m", scores: [0.3, 0.2, 0.1], promptTokens: 0),
            for: RerankRequest(dialect: .documents, model: "m", query: "q", texts: request.texts, originals: request.originals, returnDocuments: true)
        )
        let text = String(decoding: rendered, as: UTF8.self)
        for document in documents { #expect(text.contains(#""document":"# + document)) }
    }

    @Test func stringDocumentsHaveNoOriginal() throws {
        let request = try parse(#"{"query":"q","documents":["a",{"text":"b"}]}"#)
        #expect(request.originals[0] == nil)
        #expect(request.originals[1] == RawJSON(validating: Array(#"{"text":"b"}"#.utf8)))
    }

    // MARK: - rank_fields

    @Test(arguments: [
        #"{"query":"q","rank_fields":["t","id","b"],"documents":[{"id":12345678901234567891,"t":"x","b":true,"o":{}}]}"#,
        #"{"query":"q","documents":[{"id":12345678901234567891,"t":"x","b":true,"o":{}}],"rank_fields":["t","id","b"]}"#,
    ])
    func rankFieldsBeforeOrAfterDocuments(body: String) throws {
        #expect(try parse(body).texts == ["t: x\nid: 12345678901234567891\nb: true"])
    }

    @Test func rankFieldsErrors() {
        #expect(
            invalid(#"{"query":"q","rank_fields":["o"],"documents":[{"o":{"x":1}}]}"#)?.message
                == #"documents[0] has no string field "o" named in rank_fields"#
        )
        #expect(invalid(#"{"query":"q","rank_fields":["n"],"documents":[{"n":null}]}"#)?.param == "documents")
        #expect(invalid(#"{"query":"q","rank_fields":"t","documents":["a"]}"#)?.message == "rank_fields: expected an array")
        #expect(invalid(#"{"query":"q","rank_fields":[1],"documents":["a"]}"#)?.message == "rank_fields[0]: expected a string")
    }

    @Test func emptyRankFieldsUsesText() throws {
        #expect(try parse(#"{"query":"q","rank_fields":[],"documents":[{"text":"t"}]}"#).texts == ["t"])
    }

    // MARK: - Keys and strings

    @Test func duplicateKeysLastWins() throws {
        let request = try parse(#"{"query":"a","documents":["x"],"query":"b","documents":["y",{"text":1,"text":"z"}]}"#)
        #expect(request.query == "b")
        #expect(request.texts == ["y", "z"])
        #expect(failure(#"{"query":"q","documents":[{"text":"a","text":2}]}"#) != nil)
        #expect(try parse(#"{"query":"q","texts":["a"],"texts":null,"documents":["d"]}"#, route: .rerank).dialect == .documents)
    }

    @Test func escapesAndSurrogatePairs() throws {
        let request = try parse(#"{"qu\u0065ry":"\u0071","documents":["a\"b\\c\/d\b\f\n\r\t\u00e9\ud83d\ude00 é😀",{"t\u0065xt":"\u20AC"}]}"#)
        #expect(request.query == "q")
        #expect(request.texts == ["a\"b\\c/d\u{8}\u{C}\n\r\té😀 é😀", "€"])
    }

    @Test(arguments: [
        #""\ud83d""#, #""\ude00""#, #""\ud83d\u0041""#, #""\ud83dx""#, #""\x""#, #""\u12g4""#, "\"a\u{1}b\"", "\"tab\there\"",
    ])
    func invalidStringsAreRefused(string: String) {
        let refusal = invalid(#"{"query":"q","documents":["# + string + "]}")
        #expect(refusal?.message.contains("not valid JSON") == true)
        #expect(refusal?.message.contains("documents[0]") == true)
        #expect(refusal?.param == "documents")
    }

    @Test(
        arguments: [
            [0xFF], [0xC0, 0x80], [0xC3], [0xED, 0xA0, 0x80], [0xE2, 0x82], [0xF4, 0x90, 0x80, 0x80], [0xF8, 0x88, 0x80, 0x80, 0x80], [0x80],
            [0xC3, 0xA9, 0x80], [0xE2, 0x82, 0xAC, 0xFF], [0xF0, 0x8F, 0xBF, 0xBF], [0xE0, 0x9F, 0xBF],
        ] as [[UInt8]]
    )
    func invalidUTF8IsRefused(bytes: [UInt8]) {
        let body = Array(#"{"query":"q","documents":["a"#.utf8) + bytes + Array(#"b"]}"#.utf8)
        guard case .invalid(let message, let param)? = failure(body)?.error else {
            Issue.record("accepted invalid UTF-8 \(bytes)")
            return
        }
        #expect(message.contains("not valid JSON"))
        #expect(param == "documents")
    }

    @Test func validMultiByteUTF8IsAccepted() throws {
        let body =
            Array(#"{"query":"q","documents":[""#.utf8) + [0xC3, 0xA9, 0xE2, 0x82, 0xAC, 0xF0, 0x9F, 0x98, 0x80, 0xEF, 0xBF, 0xBF]
            + Array(#""]}"#.utf8)
        let request = try RequestParser.parse(body, route: .v1, limits: RequestLimits(maxDocuments: 5))
        #expect(request.texts == ["é€😀\u{FFFF}"])
    }

    // MARK: - Syntax

    @Test(arguments: [
        "", " ", "{not json", "{", #"{"query":"q","documents":["a"]} x"#, #"{"query":"q","documents":["a"]}{}"#, #"{"a":1,}"#,
        #"{"query":"q","documents":["a",]}"#, #"{"x":01}"#, #"{"x":1.}"#, #"{"x":-}"#, #"{"x":1e}"#, #"{"x":.5}"#, #"{"x":tru}"#,
        #"{"x":nul}"#, #"{"x" 1}"#, #"{x:1}"#, #"{"x":[1 2]}"#, #"{"x":{"a" 1}}"#, #"{"x":{1:2}}"#, #"{"x":"#, #"{"x":"abc"#,
        #"{"x":+1}"#, #"{"x":NaN}"#, "{\"x\":1}\u{0}",
    ])
    func syntaxErrorsAreNotValidJSON(body: String) {
        #expect(invalid(body)?.message.hasPrefix("request body is not valid JSON") == true)
    }

    @Test(arguments: ["[1,2]", #""str""#, "7", "null", " true "])
    func nonObjectsAreRefused(body: String) {
        #expect(failure(body)?.error == .invalid("request body must be a JSON object"))
    }

    @Test func whitespaceAndUnknownKeysAreFine() throws {
        let request = try parse(" \n{ \"extra\" : {\"deep\":[1,-2.5e-3,true,false,null,\"s\"]} ,\t\"query\":\"q\",\r\"documents\":[ \"a\" ] }\n ")
        #expect(request.texts == ["a"])
    }

    // MARK: - Hostile bodies

    @Test func tooManyDocumentsFailsBeforeDecoding() {
        let body = Array((#"{"query":"q","documents":["# + String(repeating: "{},", count: (8 << 20) / 3) + "{}]}").utf8)
        let clock = ContinuousClock()
        var refusal: RequestParser.Failure?
        let elapsed = clock.measure { refusal = failure(body, maxDocuments: 1000) }
        #expect(refusal == .init(error: .tooManyDocuments(count: 1001, limit: 1000), dialect: .documents))
        #expect(refusal?.error.message.contains("max_documents") == true)
        #expect(elapsed < .milliseconds(500))
    }

    @Test func tooManyTextsIsTEI() {
        #expect(
            failure(#"{"query":"q","texts":["a","b","c"]}"#, route: .rerank, maxDocuments: 2)
                == .init(error: .tooManyDocuments(count: 3, limit: 2), dialect: .tei)
        )
    }

    @Test(arguments: [
        ("", "", "request body nests deeper than 64 levels"),
        (#"{"query":"q","documents":"#, "}", "documents[0]: request body nests deeper than 64 levels"),
        (#"{"query":"q","x":"#, "}", "x: request body nests deeper than 64 levels"),
        (#"{"query":"q","documents":[{"a":"#, "}]}", "documents[0]: request body nests deeper than 64 levels"),
    ])
    func deepNestingIsBounded(prefix: String, suffix: String, message: String) {
        let body = Array(prefix.utf8) + [UInt8](repeating: UInt8(ascii: "["), count: 100_000) + Array(suffix.utf8)
        guard case .invalid(let got, _)? = failure(body)?.error else {
            Issue.record("deep nesting was not refused")
            return
        }
        #expect(got == message)
    }

    @Test func sixtyFourLevelsAreAllowed() throws {
        let nest = { (n: Int) in String(repeating: "[", count: n) + String(repeating: "]", count: n) }
        #expect(try parse(#"{"query":"q","documents":[],"x":"# + nest(63) + "}").texts.isEmpty)
        #expect(failure(#"{"query":"q","documents":[],"x":"# + nest(64) + "}") != nil)
    }

    // MARK: - Fields

    @Test func integersAndBooleans() throws {
        #expect(try parse(#"{"query":"q","documents":["a","b","c"],"top_n":2.0}"#).topN == 2)
        #expect(try parse(#"{"query":"q","documents":["a","b","c"],"top_n":2e0}"#).topN == 2)
        for topN in ["2.5", #""2""#, "99999999999999999999", "true", "[]"] {
            #expect(invalid(#"{"query":"q","documents":["a"],"top_n":"# + topN + "}") ?? ("", nil) == ("top_n: expected an integer", "top_n"))
        }
        #expect(
            try parse(#"{"query":"q","documents":["a"],"truncate":"TRUE","raw_scores":"False"}"#).settings
                == ScoreSettings(rawScores: false, truncate: true)
        )
        #expect(invalid(#"{"query":"q","documents":["a"],"truncate":"yes"}"#) ?? ("", nil) == ("truncate: expected a boolean", "truncate"))
        #expect(invalid(#"{"query":"q","documents":["a"],"return_documents":1}"#)?.param == "return_documents")
    }

    @Test func nullMeansAbsent() throws {
        let request = try parse(
            #"{"model":null,"query":"q","documents":["a","b"],"top_n":null,"return_documents":null,"rank_fields":null,"truncate":null,"truncation_direction":null,"truncate_prompt_tokens":null,"max_tokens_per_doc":null,"texts":null}"#
        )
        #expect(request.model == nil)
        #expect(request.topN == nil)
        #expect(request.returnDocuments)
        #expect(request.settings == ScoreSettings())
        #expect(request.maxTokensPerDoc == nil)
        #expect(invalid(#"{"query":null,"documents":["a"]}"#)?.message == "query is required")
        #expect(invalid(#"{"query":"q","documents":null}"#)?.message == "documents is required")
    }

    @Test func maxTokensPerDoc() throws {
        #expect(try parse(#"{"query":"q","documents":["a"],"max_tokens_per_doc":512}"#, route: .v2).maxTokensPerDoc == 512)
        #expect(invalid(#"{"query":"q","documents":["a"],"max_tokens_per_doc":0}"#)?.param == "max_tokens_per_doc")
        #expect(invalid(#"{"query":"q","documents":["a"],"max_tokens_per_doc":"x"}"#)?.param == "max_tokens_per_doc")
    }

    @Test func wrongTypesNameTheirPath() {
        #expect(
            invalid(#"{"query":7,"documents":["a"]}"#) ?? ("", nil) == ("query: must be a string (multimodal queries are not supported)", "query")
        )
        #expect(invalid(#"{"query":"q","documents":"a"}"#) ?? ("", nil) == ("documents: expected an array", "documents"))
        #expect(
            invalid(#"{"query":"q","documents":["a",1]}"#) ?? ("", nil) == (
                #"documents[1]: a document must be a string or an object with "text""#, "documents"
            )
        )
        #expect(invalid(#"{"query":"q","documents":[["a"]]}"#)?.message.hasPrefix("documents[0]") == true)
        #expect(invalid(#"{"model":1,"query":"q","documents":["a"]}"#) ?? ("", nil) == ("model: expected a string", "model"))
        #expect(invalid(#"{"query":"q","documents":[{"text":1}]}"#)?.message == #"documents[0] must be a string or an object with a string "text""#)
        #expect(invalid(#"{"query":"q","documents":[{}]}"#)?.param == "documents")
    }

    // MARK: - Dialect of refusals

    @Test func refusalsFromTEIClientsAreTEI() {
        #expect(
            failure(#"{"query":"q","texts":"abc"}"#, route: .rerank)
                == .init(error: .invalid("texts: expected an array", param: "texts"), dialect: .tei)
        )
        #expect(
            failure(#"{"query":"q","texts":[1]}"#, route: .rerank)
                == .init(error: .invalid("texts[0]: expected a string", param: "texts"), dialect: .tei)
        )
        #expect(failure(#"{"query":"q","texts":[]}"#, route: .rerank) == .init(error: .empty("`texts` cannot be empty"), dialect: .tei))
        #expect(failure(#"{"query":"q","texts":["a","#, route: .rerank)?.dialect == .tei)
        #expect(failure(#"{"texts":["a"]}"#, route: .rerank)?.dialect == .tei)
        #expect(failure(#"{"query":"q","texts":"abc"}"#, route: .v1)?.dialect == .documents)
        #expect(failure(#"{"query":"q","texts":"abc"}"#, route: .v2)?.dialect == .documentsV2)
        #expect(failure(#"{"query":"q","documents":["a"],"texts":["a"]}"#, route: .rerank)?.dialect == .documents)
        #expect(failure("{not json", route: .rerank)?.dialect == .documents)
    }

    // MARK: - Fuzzing


    static let seeds: [String] = [
        #"{"model":"m","query":"q","documents":["a",{"text":"b","id":12345678901234567891}],"top_n":1,"return_documents":"true"}"#,
        #"{"query":"q é","rank_fields":["t","n"],"documents":[{"t":"x\u00e9\ud83d\ude00","n":-1.5e3,"o":{"k":[null,true]}}],"truncate_prompt_tokens":-1}"#,
        #"{"query":"q","texts":["a","b\n"],"raw_scores":false,"truncation_direction":"Left","truncate":true}"#,
        #"{ "query" : "q" , "documents" : [ { "text" : "a" } , "b" ] , "extra" : [ [ [ { } ] ] ] }"#,
    ]

    static func mutate(_ input: [UInt8], using rng: inout SplitMix64) -> [UInt8] {
        let interesting: [UInt8] = Array(#"{}[]",:\u0123456789-+.eEtrfalsn "#.utf8) + [0x00, 0x1F, 0x7F, 0x80, 0xBF, 0xC3, 0xED, 0xF0, 0xFF]
        var bytes = input
        for _ in 0..<Int.random(in: 1...4, using: &rng) {
            let at = bytes.isEmpty ? 0 : Int.random(in: 0..<bytes.count, using: &rng)
            let span = bytes.isEmpty ? 0 : Int.random(in: 0...min(16, bytes.count - at), using: &rng)
            switch Int.random(in: 0..<5, using: &rng) {
            case 0 where !bytes.isEmpty: bytes[at] ^= UInt8(1) << UInt8.random(in: 0..<8, using: &rng)
            case 1: bytes.insert(interesting.randomElement(using: &rng)!, at: at)
            case 2: bytes.removeSubrange(at..<at + span)
            case 3: bytes.insert(contentsOf: Array(bytes[at..<at + span]), at: at)
            default: if !bytes.isEmpty { bytes[at] = UInt8.random(in: 0...255, using: &rng) }
            }
        }
        return bytes
    }

    @Test(arguments: [RerankRoute.rerank, .v1, .v2])
    func mutatedBodiesNeverTrap(route: RerankRoute) {
        var rng = SplitMix64(seed: 0x5EED)
        var accepted = 0
        for iteration in 0..<3000 {
            let body = Self.mutate(Array(Self.seeds[iteration % Self.seeds.count].utf8), using: &rng)
            do {
                let request = try RequestParser.parse(body, route: route, limits: RequestLimits(maxDocuments: 4))
                accepted += 1
                #expect(request.texts.count == request.originals.count)
                for original in request.originals {
                    if let original { #expect(RawJSON(validating: original.bytes) != nil) }
                }
            } catch {
                #expect(!error.error.message.isEmpty)
            }
        }
        #expect(accepted > 0)
    }
}
