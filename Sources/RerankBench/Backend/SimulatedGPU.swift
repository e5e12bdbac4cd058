import Foundation
import Hummingbird
import NIOCore
import Synchronization

/// A simulated GPU reranker: answers the cohere (`/v1/rerank`, `/rerank` with documents), TEI (`/rerank`
/// with texts) and vLLM score (`/score`) dialects after `base + perPair × pairs`, at most `concurrency`
/// batches at a time (the rest queue, as on a real GPU). Scores are a pure function of the pair.
///
/// Defaults model a T4 running bge-reranker-v2-m3 (XLM-R large, 568M parameters) in fp16: about 0.6 GFLOP
/// per token, ~250 tokens per (query, 200–2000 byte passage) pair, so ~150 GFLOP a pair; at the ~50 TFLOPS
/// a T4 sustains on large fp16 GEMMs that is ~3 ms a pair, plus ~8 ms fixed per call (tokenisation,
/// launch, copy). Two batches overlap (TEI and vLLM pipeline tokenisation with compute).
final class SimulatedGPU: Sendable {
    struct CostModel: Sendable, CustomStringConvertible {
        var base: Duration = .milliseconds(8)
        var perPair: Duration = .milliseconds(3)
        var concurrency = 2

        var description: String {
            "latency = \(base.milliseconds) ms + \(perPair.milliseconds) ms × pairs, \(concurrency) concurrent batches"
        }
    }

    struct Counters: Sendable {
        var calls = 0
        var pairs = 0
    }

    let cost: CostModel
    private let counters = Mutex(Counters())
    private let slots: Slots

    init(cost: CostModel) {
        self.cost = cost
        self.slots = Slots(cost.concurrency)
    }

    var snapshot: Counters { counters.withLock { $0 } }

    static func score(query: String, document: String) -> Double {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in query.utf8 { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        hash = (hash ^ 0xFF) &* 0x0000_0100_0000_01B3
        for byte in document.utf8 { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        hash ^= hash >> 29
        hash = hash &* 0xBF58_476D_1CE4_E5B9
        hash ^= hash >> 32
        return Double(hash >> 11) / Double(1 << 53)
    }

    private struct Body: Decodable {
        var query: String?
        var documents: [String]?
        var texts: [String]?
        var text_1: String?
        var text_2: [String]?
    }

    func addRoutes(to router: Router<BasicRequestContext>) {
        router.post("/v1/rerank") { request, _ in try await self.handle(request) }
        router.post("/rerank") { request, _ in try await self.handle(request) }
        router.post("/score") { request, _ in try await self.handle(request) }
        router.post("/v1/score") { request, _ in try await self.handle(request) }
        router.get("/health") { _, _ in "ok" }
        router.get("/stats") { _, _ in
            let c = self.snapshot
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: #"{"calls":\#(c.calls),"pairs":\#(c.pairs)}"#)))
        }
    }

    private func handle(_ request: Request) async throws -> Response {
        let buffer = try await request.body.collect(upTo: 64 << 20)
        let body = try JSONDecoder().decode(Body.self, from: Data(buffer: buffer))
        let query = body.query ?? body.text_1 ?? ""
        let docs = body.documents ?? body.texts ?? body.text_2 ?? []
        counters.withLock { c in
            c.calls += 1
            c.pairs += docs.count
        }
        let delay = cost.base + cost.perPair * docs.count
        if delay > .zero {
            await slots.acquire()
            try? await Task.sleep(for: delay)
            await slots.release()
        }
        var out = ""
        out.reserveCapacity(docs.count * 48)
        let scores = docs.map { Self.score(query: query, document: $0) }
        if body.texts != nil {
            out = "[" + scores.enumerated().map { #"{"index":\#($0.offset),"score":\#($0.element)}"# }.joined(separator: ",") + "]"
        } else if body.text_2 != nil {
            out = #"{"id":"score-sim","object":"list","model":"sim","data":["#
                + scores.enumerated().map { #"{"index":\#($0.offset),"object":"score","score":\#($0.element)}"# }.joined(separator: ",")
                + #"],"usage":{"prompt_tokens":0,"total_tokens":0}}"#
        } else {
            out = #"{"id":"rerank-sim","model":"sim","results":["#
                + scores.enumerated().map { #"{"index":\#($0.offset),"relevance_score":\#($0.element)}"# }.joined(separator: ",")
                + #"],"usage":{"total_tokens":0}}"#
        }
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: out)))
    }
}

/// A counting semaphore for async code: `n` holders at a time, the rest wait in order.
actor Slots {
    private var free: Int
    private var waiters: [CheckedContinuation<Void, Never>] = []

    init(_ count: Int) { free = max(1, count) }

    func acquire() async {
        if free > 0 {
            free -= 1
            return
        }
        await withCheckedContinuation { waiters.append($0) }
    }

    func release() {
        if waiters.isEmpty {
            free += 1
        } else {
            waiters.removeFirst().resume()
        }
    }
}

extension Duration {
    var milliseconds: Double {
        let (s, a) = components
        return Double(s) * 1000 + Double(a) / 1e15
    }
}
