import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// An in-process reranker over real HTTP, speaking the cohere (`/v1/rerank`, `/rerank` with documents),
/// TEI (`/rerank` with texts) and vLLM score (`/score` with `text_1`/`text_2`) formats. Its scores are a pure function of (query, document), so tests
/// know every exact answer; it counts what it receives and can be told to fail or be slow.
final class FakeRerankBackend: Sendable {
    struct State {
        var calls = 0
        var pairs = 0
        var documents: [String] = []
        var sawTopN = false
        var sawRawScores = false
        var failStatus: Int?
        var delay: Duration = .zero
        /// Served as `max_client_batch_size` at `GET /info` when set (TEI-style); `/info` is 404 otherwise.
        var infoBatchLimit: Int?
        /// Sends `200` headers, then stalls the body until this is turned off (a hung backend behind a balancer).
        var stallBody = false
        /// Refuses (422, like TEI for an over-long input) any call holding a document with this prefix.
        var refusePrefix: String?
        /// Stalled bodies waiting for ``stallBody(_:)`` to be turned off.
        var stalled: [CheckedContinuation<Void, Never>] = []
        /// Added to every score (a backend serving another model or normalisation behind the same name).
        var scoreOffset = 0.0
        /// vLLM `/score` requests seen, and whether one sent `use_activation: false`.
        var scoreCalls = 0
        var sawUseActivationFalse = false
        /// Calls in flight now and the most at once, by the query's first word (tests tag job and interactive queries).
        var inFlightByTag: [String: Int] = [:]
        var peakByTag: [String: Int] = [:]
    }

    let state = Mutex(State())

    /// The score every fake backend gives the pair: 53 well-mixed bits, so bit-exactness is tested.
    static func score(query: String, document: String, raw: Bool = false) -> Double {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in query.utf8 + [0xFF] + document.utf8 {
            hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
        }
        hash ^= hash >> 29
        hash = hash &* 0xBF58_476D_1CE4_E5B9
        hash ^= hash >> 32
        let unit = Double(hash >> 11) / Double(1 << 53)
        return raw ? unit * 20 - 10 : unit
    }

    var calls: Int { state.withLock { $0.calls } }
    /// The most calls in flight at once whose query starts with `tag` and a space (or is `tag`).
    func peak(_ tag: String) -> Int { state.withLock { $0.peakByTag[tag] ?? 0 } }
    var pairs: Int { state.withLock { $0.pairs } }
    var documents: [String] { state.withLock { $0.documents } }
    func fail(with status: Int?) { state.withLock { $0.failStatus = status } }
    func delay(_ delay: Duration) { state.withLock { $0.delay = delay } }
    func stallBody(_ stall: Bool) {
        let released: [CheckedContinuation<Void, Never>] = state.withLock { state in
            state.stallBody = stall
            guard !stall else { return [] }
            defer { state.stalled = [] }
            return state.stalled
        }
        for body in released { body.resume() }
    }

    /// Returns once bodies may flow (at once when they are not stalled).
    private func bodyReleased() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let now = state.withLock { state in
                guard state.stallBody else { return true }
                state.stalled.append(continuation)
                return false
            }
            if now { continuation.resume() }
        }
    }
    func refuse(prefix: String?) { state.withLock { $0.refusePrefix = prefix } }

    private func respond(_ request: Request) async throws -> Response {
        let buffer = try await request.body.collect(upTo: 64 << 20)
        let object = try JSONSerialization.jsonObject(with: Data(buffer: buffer)) as? [String: Any] ?? [:]
        let isScore = object["text_2"] != nil
        let isTEI = object["texts"] != nil
        let documents = (object["texts"] ?? object["documents"] ?? object["text_2"]) as? [String] ?? []
        // vLLM pairs text_1[i] with text_2[i], or broadcasts a single text_1.
        let text1 = object["text_1"] as? [String] ?? (object["text_1"] as? String).map { Array(repeating: $0, count: documents.count) }
        let queries = text1 ?? Array(repeating: object["query"] as? String ?? "", count: documents.count)
        let tag = String(queries.first?.split(separator: " ").first ?? "")
        let raw = (object["raw_scores"] as? Bool) ?? (object["use_activation"] as? Bool).map { !$0 } ?? false
        let (failStatus, delay, refusePrefix, stall, offset) = state.withLock { state in
            state.calls += 1
            if isScore { state.scoreCalls += 1 }
            if object["use_activation"] as? Bool == false { state.sawUseActivationFalse = true }
            state.pairs += documents.count
            state.documents += documents
            if object["top_n"] != nil { state.sawTopN = true }
            if raw { state.sawRawScores = true }
            state.inFlightByTag[tag, default: 0] += 1
            state.peakByTag[tag] = max(state.peakByTag[tag] ?? 0, state.inFlightByTag[tag] ?? 0)
            return (state.failStatus, state.delay, state.refusePrefix, state.stallBody, state.scoreOffset)
        }
        defer { state.withLock { $0.inFlightByTag[tag, default: 1] -= 1 } }
        if delay > .zero { try await Task.sleep(for: delay) }
        if let refusePrefix, documents.contains(where: { $0.hasPrefix(refusePrefix) }) {
            let body = isTEI
                ? #"{"error":"Input validation error: inputs must have less than 512 tokens","error_type":"Validation"}"#
                : #"{"error":{"message":"inputs must have less than 512 tokens","type":"BadRequestError"}}"#
            return Response(status: .unprocessableContent, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: body)))
        }
        if let failStatus {
            let body = #"{"error":{"message":"injected failure","type":"InternalServerError"}}"#
            return Response(status: .init(code: failStatus), headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: body)))
        }
        if isScore, queries.count != documents.count {
            let body = #"{"error":{"message":"Input lengths must be either 1:1, 1:N or N:N","type":"BadRequestError"}}"#
            return Response(status: .badRequest, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: body)))
        }
        let scored = documents.enumerated().map {
            (index: $0.offset, score: Self.score(query: queries[$0.offset], document: $0.element, raw: raw) + offset)
        }
        .sorted { isScore ? $0.index < $1.index : $0.score > $1.score }
        let json: Any
        if isScore {
            json = ["id": "score-fake", "object": "list", "created": 0, "model": object["model"] ?? "",
                    "data": scored.map { ["index": $0.index, "object": "score", "score": $0.score] as [String: Any] },
                    "usage": ["prompt_tokens": documents.count * 3, "total_tokens": documents.count * 3, "completion_tokens": 0]] as [String: Any]
        } else if isTEI {
            json = scored.map { ["index": $0.index, "score": $0.score] as [String: Any] }
        } else {
            json = ["id": "fake", "model": object["model"] ?? "", "results": scored.map { ["index": $0.index, "relevance_score": $0.score] as [String: Any] },
                    "usage": ["total_tokens": documents.count * 3]] as [String: Any]
        }
        let data = try JSONSerialization.data(withJSONObject: json)
        if stall {
            // The head goes out at once; the body waits until the test lets it go.
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init { writer in
                await self.bodyReleased()
                try await writer.write(ByteBuffer(bytes: data))
                try await writer.finish(nil)
            })
        }
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// Runs the fake on a free loopback port for the duration of `body`, which gets its base URL.
    func run<T: Sendable>(_ body: @Sendable (String) async throws -> T) async throws -> T {
        let router = Router()
        router.post("/v1/rerank") { request, _ in try await self.respond(request) }
        router.post("/rerank") { request, _ in try await self.respond(request) }
        router.post("/score") { request, _ in try await self.respond(request) }
        router.get("/info") { _, _ in
            guard let limit = self.state.withLock({ $0.infoBatchLimit }) else { return Response(status: .notFound) }
            return Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(string: #"{"model_id":"fake","max_client_batch_size":\#(limit)}"#))
            )
        }
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        var logger = Logger(label: "fake-backend")
        logger.logLevel = .warning
        let app = Application(
            router: router,
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in continuation.yield(channel.localAddress?.port ?? 0) },
            logger: logger
        )
        let group = ServiceGroup(configuration: .init(services: [app], logger: logger))
        return try await withThrowingTaskGroup(of: T?.self) { tasks in
            tasks.addTask {
                try await group.run()
                return nil
            }
            var iterator = ports.makeAsyncIterator()
            let port = await iterator.next() ?? 0
            do {
                let result = try await body("http://127.0.0.1:\(port)")
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
                return result
            } catch {
                await group.triggerGracefulShutdown()
                try? await tasks.waitForAll()
                throw error
            }
        }
    }
}
