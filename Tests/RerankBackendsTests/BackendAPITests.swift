import Foundation
import RerankCore
import Testing

@testable import RerankBackends

/// Golden tests: the exact bytes each API sends, and decoding each API's published response shape
/// (docs/api-compat.md).
@Suite struct BackendAPITests {
    func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    // MARK: - Requests

    @Test func vllmSendsOneQueryPerDocumentToScore() {
        let body = BackendAPI.vllm.encodeRequest(model: "bge", query: "q \"1\"", documents: ["a", "b"], settings: .init())
        #expect(text(body) == #"{"model":"bge","text_1":["q \"1\"","q \"1\""],"text_2":["a","b"]}"#)
        #expect(BackendAPI.vllm.defaultPath == "/score")
    }

    @Test func vllmCarriesPairsOfDifferentQueriesInOneScoreCall() throws {
        // vLLM's N:N form of POST /score: text_1[i] is scored against text_2[i].
        let body = BackendAPI.vllm.encodeRequest(
            model: "bge", queries: ["what is \"x\"", "what is \"x\"", "capital of france"], documents: ["a", "b", "Paris"],
            settings: .init(rawScores: true)
        )
        #expect(
            text(body)
                == #"{"model":"bge","text_1":["what is \"x\"","what is \"x\"","capital of france"],"text_2":["a","b","Paris"],"use_activation":false}"#
        )
        // The published response answers by index, whatever the order of the data array.
        let response = #"""
            {"id":"score-2","object":"list","created":1700000000,"model":"bge",
             "data":[{"index":2,"object":"score","score":0.99},{"index":0,"object":"score","score":0.1},{"index":1,"object":"score","score":0.2}],
             "usage":{"prompt_tokens":30,"total_tokens":30,"completion_tokens":0}}
            """#
        #expect(try BackendAPI.vllm.decodeResponse(Data(response.utf8), count: 3) == BackendReply(scores: [0.1, 0.2, 0.99], tokens: 30))
    }

    @Test func vllmSendsRawScoresAsUseActivationFalseAndTruncatePromptTokens() {
        let body = BackendAPI.vllm.encodeRequest(
            model: "bge", query: "q", documents: ["a"], settings: .init(rawScores: true, truncatePromptTokens: 512)
        )
        #expect(text(body) == #"{"model":"bge","text_1":["q"],"text_2":["a"],"use_activation":false,"truncate_prompt_tokens":512}"#)
    }

    @Test func cohereRequestBytes() {
        let body = BackendAPI.cohere.encodeRequest(model: "bge", query: "q", documents: ["a", "b"], settings: .init())
        #expect(text(body) == #"{"model":"bge","query":"q","documents":["a","b"],"return_documents":false}"#)
    }

    @Test func teiRequestBytes() {
        let body = BackendAPI.tei.encodeRequest(
            model: "bge", query: "q", documents: ["a"], settings: .init(truncate: true, truncationDirection: .left)
        )
        #expect(text(body) == #"{"query":"q","texts":["a"],"raw_scores":false,"truncate":true,"truncation_direction":"Left"}"#)
    }

    // MARK: - Settings

    @Test func vllmHonoursLikeCohere() throws {
        #expect(throws: RequestError.self) { try BackendAPI.vllm.honoured(ScoreSettings(truncate: true)) }
        let honoured = try BackendAPI.vllm.honoured(ScoreSettings(rawScores: true, truncate: false, truncationDirection: .left, truncatePromptTokens: 8))
        #expect(honoured == ScoreSettings(rawScores: true, truncatePromptTokens: 8))
    }

    // MARK: - Responses

    @Test func vllmDecodesThePublishedScoreResponseByIndex() throws {
        let body = #"""
            {"id":"score-1","object":"list","created":1700000000,"model":"bge",
             "data":[{"index":1,"object":"score","score":0.25},{"index":0,"object":"score","score":0.75}],
             "usage":{"prompt_tokens":12,"total_tokens":12,"completion_tokens":0}}
            """#
        let reply = try BackendAPI.vllm.decodeResponse(Data(body.utf8), count: 2)
        #expect(reply == BackendReply(scores: [0.75, 0.25], tokens: 12))
    }

    @Test func vllmRefusesAMissingOrRepeatedIndex() {
        let repeated = #"{"data":[{"index":0,"score":0.1},{"index":0,"score":0.2}]}"#
        #expect(throws: BackendAPI.DecodeFailure.self) { try BackendAPI.vllm.decodeResponse(Data(repeated.utf8), count: 2) }
        let short = #"{"data":[{"index":0,"score":0.1}]}"#
        #expect(throws: BackendAPI.DecodeFailure.self) { try BackendAPI.vllm.decodeResponse(Data(short.utf8), count: 2) }
    }

    @Test func cohereDecodesThePublishedRerankResponse() throws {
        let body = #"""
            {"id":"rerank-1","model":"bge","usage":{"total_tokens":9},
             "results":[{"index":1,"document":{"text":"b"},"relevance_score":0.9},{"index":0,"document":{"text":"a"},"relevance_score":0.1}]}
            """#
        #expect(try BackendAPI.cohere.decodeResponse(Data(body.utf8), count: 2) == BackendReply(scores: [0.1, 0.9], tokens: 9))
    }

    @Test func teiDecodesTheBareArray() throws {
        let body = #"[{"index":1,"score":0.9},{"index":0,"score":0.1}]"#
        #expect(try BackendAPI.tei.decodeResponse(Data(body.utf8), count: 2) == BackendReply(scores: [0.1, 0.9], tokens: 0))
    }
}
