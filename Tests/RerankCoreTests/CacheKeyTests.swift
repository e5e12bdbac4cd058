import Crypto
import Testing

@testable import RerankCore

@Suite struct CacheKeyTests {
    func key(model: String = "m", revision: String = "", settings: ScoreSettings = .init(), query: String = "q", document: String = "d") -> CacheKey {
        CacheKeyEncoder(model: model, revision: revision, settings: settings, query: query).key(document: document)
    }

    @Test func sameInputsGiveTheSameKey() {
        #expect(key() == key())
        #expect(key().description.count == 64)
    }

    @Test func everyFieldChangesTheKey() {
        let base = key()
        #expect(key(model: "m2") != base)
        #expect(key(revision: "r1") != base)
        #expect(key(settings: .init(rawScores: true)) != base)
        #expect(key(settings: .init(truncate: true)) != base)
        #expect(key(settings: .init(truncationDirection: .left)) != base)
        #expect(key(settings: .init(truncatePromptTokens: 128)) != base)
        #expect(key(query: "q2") != base)
        #expect(key(document: "d2") != base)
    }

    @Test func fieldBoundariesCannotBeShifted() {
        // Infinity-style query+document concatenation would make these collide.
        #expect(key(query: "ab", document: "c") != key(query: "a", document: "bc"))
        #expect(key(model: "ab", query: "c") != key(model: "a", query: "bc"))
        #expect(key(query: "", document: "x") != key(query: "x", document: ""))
        // The lengths are part of the encoding, so embedded separators do not alias either.
        #expect(key(query: "a\u{0}b", document: "c") != key(query: "a", document: "b\u{0}c"))
    }

    @Test func prefixReuseMatchesAFreshEncoder() {
        let encoder = CacheKeyEncoder(model: "m", revision: "", settings: .init(), query: "q")
        let first = encoder.key(document: "one")
        _ = encoder.key(document: "two")
        #expect(encoder.key(document: "one") == first)
        #expect(first == key(document: "one"))
    }

    @Test func bytesRoundTrip() throws {
        let original = key(document: "round trip")
        let restored = try #require(CacheKey(bytes: original.bytes))
        #expect(restored == original)
        #expect(CacheKey(bytes: [UInt8](repeating: 0, count: 31)) == nil)
    }

    @Test func encodingIsTheDocumentedLengthPrefixedLayout() {
        // Rebuild the documented encoding by hand: version byte, then 8-byte big-endian length + UTF-8 per field.
        func field(_ text: String) -> [UInt8] {
            let utf8 = Array(text.utf8)
            return withUnsafeBytes(of: UInt64(utf8.count).bigEndian) { Array($0) } + utf8
        }
        var bytes: [UInt8] = [CacheKeyEncoder.version]
        for text in ["bge-reranker-v2-m3", "", "raw_scores=0", "truncate=-", "truncation_direction=-", "truncate_prompt_tokens=-",
                     "what is panda?", "The giant panda is a bear."] {
            bytes += field(text)
        }
        // The key: the model tag (SHA-256 of the domain string + the model name, first 8 bytes), then digest bytes 8..<32.
        let tag = Array(SHA256.hash(data: Array("rerank-proxy model tag\u{0}bge-reranker-v2-m3".utf8)))[0..<8]
        let expected = CacheKey(bytes: Array(tag) + Array(SHA256.hash(data: bytes))[8..<32])
        #expect(key(model: "bge-reranker-v2-m3", query: "what is panda?", document: "The giant panda is a bear.") == expected)
    }

    @Test func everyGenerationHasItsOwnKeysAndGenerationZeroIsUnchanged() {
        func keyed(namespace: String? = nil, generation: UInt64) -> CacheKey {
            CacheKeyEncoder(model: "m", revision: "", settings: .init(), query: "q", namespace: namespace, generation: generation).key(document: "d")
        }
        // Generation 0 (never purged) is the encoding from before purging existed: existing caches stay valid.
        #expect(keyed(generation: 0) == key())
        let keys = [keyed(generation: 0), keyed(generation: 1), keyed(generation: 2), keyed(namespace: "t", generation: 0), keyed(namespace: "t", generation: 1)]
        #expect(Set(keys).count == keys.count)
        // A later generation's key is the documented layout: version 2, then the 8-byte big-endian generation.
        var bytes: [UInt8] = [CacheKeyEncoder.generationVersion] + withUnsafeBytes(of: UInt64(1).bigEndian) { Array($0) }
        for text in ["m", "", "raw_scores=0", "truncate=-", "truncation_direction=-", "truncate_prompt_tokens=-", "q", "d"] {
            let utf8 = Array(text.utf8)
            bytes += withUnsafeBytes(of: UInt64(utf8.count).bigEndian) { Array($0) } + utf8
        }
        #expect(Array(keyed(generation: 1).bytes[8...]) == Array(Array(SHA256.hash(data: bytes))[8..<32]))
    }

    // MARK: - Model tag

    @Test func theModelTagIsTheKeysFirstEightBytes() {
        let tag = CacheKey.modelTag("bge-reranker-v2-m3")
        let made = key(model: "bge-reranker-v2-m3", query: "what is panda?", document: "a bear")
        #expect(made.w0 == tag)
        #expect(Array(made.bytes[0..<8]) == withUnsafeBytes(of: tag.bigEndian) { Array($0) })
        // By hand: the first 8 bytes of SHA-256 over the domain string, a NUL and the name.
        let digest = Array(SHA256.hash(data: Array("rerank-proxy model tag".utf8) + [0] + Array("bge-reranker-v2-m3".utf8)))
        #expect(Array(made.bytes[0..<8]) == Array(digest[0..<8]))
        #expect(CacheKeyEncoder(model: "bge-reranker-v2-m3", revision: "", settings: .init(), query: "q").modelTag == tag)
    }

    @Test func twoModelsKeysDifferInTheTag() {
        #expect(CacheKey.modelTag("a") != CacheKey.modelTag("b"))
        #expect(key(model: "a").w0 != key(model: "b").w0)
        #expect(key(model: "a").w0 == CacheKey.modelTag("a"))
    }

    @Test func oneModelsKeysShareTheTagWhateverTheirRevisionSettingsTenantOrGeneration() {
        let tag = CacheKey.modelTag("m")
        let keys = [
            key(), key(revision: "r2"), key(settings: .init(rawScores: true)), key(query: "other"), key(document: "other"),
            CacheKeyEncoder(model: "m", revision: "", settings: .init(), query: "q", namespace: "tenant").key(document: "d"),
            CacheKeyEncoder(model: "m", revision: "", settings: .init(), query: "q", generation: 7).key(document: "d"),
            CacheKeyEncoder(model: "m", revision: "", settings: .init(), query: "q", namespace: "tenant", generation: 3).key(document: "d"),
        ]
        #expect(keys.allSatisfy { $0.w0 == tag })
        // They are still different keys: the tag only groups them.
        #expect(Set(keys).count == keys.count)
    }

    @Test func hexRoundTripsAndAnythingElseIsRefused() throws {
        let original = key(document: "hex")
        #expect(CacheKey(hex: original.description) == original)
        #expect(CacheKey(hex: original.description.uppercased()) == original)
        #expect(CacheKey(hex: String(original.description.dropLast())) == nil)
        #expect(CacheKey(hex: original.description + "00") == nil)
        #expect(CacheKey(hex: "g" + original.description.dropFirst()) == nil)
        #expect(CacheKey(hex: "") == nil)
    }

    @Test func hashingUsesADigestWordNotTheTag() {
        // Keys of one model differ in hash value (a hash of the constant tag would put them all in one bucket).
        let hashes = Set((0..<64).map { key(document: "doc \($0)").hashValue })
        #expect(hashes.count > 60)
    }
}

@Suite struct PairKeysTests {
    @Test func repeatedDocumentsShareOneKey() {
        let encoder = CacheKeyEncoder(model: "m", revision: "", settings: .init(), query: "q")
        let pairs = PairKeys(encoder: encoder, texts: ["a", "b", "a", "c", "b"])
        #expect(pairs.keys.count == 3)
        #expect(pairs.slotOf == [0, 1, 0, 2, 1])
        #expect(pairs.firstIndex == [0, 1, 3])
        #expect(pairs.keys[1] == encoder.key(document: "b"))
        #expect(pairs.slot(of: encoder.key(document: "c")) == 2)
    }

    @Test func emptyRequest() {
        let pairs = PairKeys(encoder: CacheKeyEncoder(model: "m", revision: "", settings: .init(), query: "q"), texts: [])
        #expect(pairs.keys.isEmpty)
        #expect(pairs.slotOf.isEmpty)
    }
}

@Suite struct CacheKeyEncoderTagTests {
    @Test func aKeptModelTagGivesTheSameKeysAsOneComputedPerRequest() {
        let computed = CacheKeyEncoder(model: "bge-reranker-v2-m3", revision: "r1", settings: .init(), query: "q", generation: 3)
        let kept = CacheKeyEncoder(
            model: "bge-reranker-v2-m3", revision: "r1", settings: .init(), query: "q", generation: 3, modelTag: CacheKey.modelTag("bge-reranker-v2-m3")
        )
        #expect(kept.key(document: "d") == computed.key(document: "d"))
        #expect(kept.modelTag == computed.modelTag)
    }
}
