import Foundation
import RerankCore
import Testing

@testable import RerankProxyApp

/// Thousands of seeded mutations of valid bodies over real HTTP: every answer is a 2xx or a 4xx, never a
/// 5xx, and the proxy is still serving exact scores afterwards.
@Suite(.serialized) struct FuzzTests {

    static let seeds: [String] = [
        #"{"model":"test-model","query":"what is rust","documents":["Rust is a language.",{"text":"Go is too","id":12345678901234567891}],"top_n":1,"return_documents":true}"#,
        #"{"query":"q","documents":[{"title":"T","body":"B \u00e9\ud83d\ude00"}],"rank_fields":["title","body"],"truncate_prompt_tokens":64}"#,
        #"{"query":"tei","texts":["a","b\n\"c\""],"raw_scores":true,"return_text":"true","truncate":true,"truncation_direction":"Left"}"#,
        #"{"query":"v2","documents":["x","y","z"],"max_tokens_per_doc":4096,"top_n":0}"#,
    ]

    static func mutate(_ body: [UInt8], _ rng: inout SplitMix64) -> [UInt8] {
        var bytes = body
        let interesting: [UInt8] = Array(#"{}[]",:\0123456789-+.eEtrufalsn "#.utf8) + [0x00, 0x1F, 0x7F, 0x80, 0xC3, 0xFF]
        for _ in 0..<Int.random(in: 1...4, using: &rng) {
            guard !bytes.isEmpty else { bytes = Array("{".utf8); continue }
            let at = Int.random(in: 0..<bytes.count, using: &rng)
            switch Int.random(in: 0..<5, using: &rng) {
            case 0: bytes[at] = interesting.randomElement(using: &rng)!
            case 1: bytes.insert(interesting.randomElement(using: &rng)!, at: at)
            case 2: bytes.remove(at: at)
            case 3:
                let end = min(bytes.count, at + Int.random(in: 1...16, using: &rng))
                bytes.insert(contentsOf: bytes[at..<end], at: at)
            default:
                let end = min(bytes.count, at + Int.random(in: 1...16, using: &rng))
                bytes.removeSubrange(at..<end)
            }
        }
        return bytes
    }

    @Test func mutatedBodiesNeverGetA5xxOrCrashTheProxy() async throws {
        let fake = FakeRerankBackend()
        try await fake.run { url in
            let policy = testPolicy(backends: [BackendConfig(name: "fake-0", api: .tei, url: url)], maxBodyBytes: 4096, maxDocuments: 8)
            try await withProxy(policy) { proxy in
                var rng = SplitMix64(seed: 0x5EED_0007)
                var statuses: [Int: Int] = [:]
                for n in 0..<2000 {
                    let seed = Array(Self.seeds[n % Self.seeds.count].utf8)
                    let body = Self.mutate(seed, &rng)
                    let path = ["/v1/rerank", "/v2/rerank", "/rerank"][Int.random(in: 0..<3, using: &rng)]
                    let reply = try await proxy.post(path, bytes: body)
                    statuses[reply.status, default: 0] += 1
                    #expect(reply.status < 500, "body #\(n) on \(path): \(String(decoding: body, as: UTF8.self)) → \(reply.status)")
                    if reply.status >= 400 {
                        // Every refusal is a JSON error the client can read.
                        #expect(reply.json != nil, "body #\(n): \(String(decoding: reply.body, as: UTF8.self))")
                    }
                }
                // Both outcomes happened: the mutations were neither all fatal nor all harmless.
                #expect(statuses[200, default: 0] > 0)
                #expect(statuses.keys.contains { $0 >= 400 })
                expectExact(try await proxy.post("/v1/rerank", object: ["query": "q", "documents": ["still", "serving"]]), query: "q", documents: ["still", "serving"])
            }
        }
    }
}
