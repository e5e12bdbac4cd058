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
        /// Time with at least one batch computing (the GPU busy), and the sum of every batch's compute time.
        var busy: Duration = .zero
        var slotTime: Duration = .zero
        /// Batches computing now, and since when at least one has been.
        var active = 0
        var busySince: ContinuousClock.Instant?
    }

    let cost: CostModel
    let started = ContinuousClock.now
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
        var text_1: Text1?
        var text_2: [String]?
    }

    /// vLLM `/score`'s `text_1`: one query for every `text_2`, or one per `text_2` (N:N).
    private enum Text1: Decodable {
        case one(String)
        case each([String])

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let one = try? container.decode(String.self) { self = .one(one) } else { self = .each(try container.decode([String].self)) }
        }
    }

    func addRoutes(to router: Router<BasicRequestContext>) {
        router.post("/v1/rerank") { request, _ in try await self.handle(request) }
        router.post("/rerank") { request, _ in try await self.handle(request) }
        router.post("/score") { request, _ in try await self.handle(request) }
        router.post("/v1/score") { request, _ in try await self.handle(request) }
        router.get("/health") { _, _ in "ok" }
        router.get("/stats") { _, _ in
            let c = self.snapshot
            let busy = c.busy + (c.busySince.map { ContinuousClock.now - $0 } ?? .zero)
            let json = #"{"calls":\#(c.calls),"pairs":\#(c.pairs),"busy_seconds":\#(busy.milliseconds / 1000),"#
                + #""slot_seconds":\#(c.slotTime.milliseconds / 1000),"uptime_seconds":\#((ContinuousClock.now - self.started).milliseconds / 1000)}"#
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: json)))
        }
    }

    private func handle(_ request: Request) async throws -> Response {
        let buffer = try await request.body.collect(upTo: 64 << 20)
        let body = try JSONDecoder().decode(Body.self, from: Data(buffer: buffer))
        let docs = body.documents ?? body.texts ?? body.text_2 ?? []
        let queries: [String]
        switch body.text_1 {
        case .one(let query): queries = Array(repeating: query, count: docs.count)
        case .each(let each):
            guard each.count == docs.count else {
                return Response(status: .badRequest, body: .init(byteBuffer: ByteBuffer(string: #"{"error":"text_1 and text_2 differ in length"}"#)))
            }
            queries = each
        case nil: queries = Array(repeating: body.query ?? "", count: docs.count)
        }
        counters.withLock { c in
            c.calls += 1
            c.pairs += docs.count
        }
        let delay = cost.base + cost.perPair * docs.count
        if delay > .zero {
            await slots.acquire()
            let began = ContinuousClock.now
            counters.withLock { c in
                if c.active == 0 { c.busySince = began }
                c.active += 1
            }
            try? await Task.sleep(for: delay)
            let ended = ContinuousClock.now
            counters.withLock { c in
                c.active -= 1
                c.slotTime += ended - began
                if c.active == 0, let since = c.busySince {
                    c.busy += ended - since
                    c.busySince = nil
                }
            }
            await slots.release()
        }
        var out = ""
        out.reserveCapacity(docs.count * 48)
        let scores = zip(queries, docs).map { Self.score(query: $0, document: $1) }
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
