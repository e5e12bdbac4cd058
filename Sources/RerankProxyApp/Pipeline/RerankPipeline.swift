import Logging
import RerankBackends
import RerankCache
import RerankCore

/// The heart of the proxy: key every pair, look the keys up in the cache tiers, coalesce the misses
/// with other requests' in-flight ones, forward only what nobody has, and merge.
///
/// ```swift
/// let result = try await pipeline.rerank(request, logger: logger)
/// ```
/// Forwarding runs in a task of its own, not the request's: a client that disconnects does not cancel
/// the backend call that other requests may be waiting on, and its scores are still cached.
final class RerankPipeline: Sendable {
    let models: [String: ModelRuntime]
    let defaultModel: String
    let modelOrder: [String]
    let cache: TieredCache
    let coalescer = Coalescer<CacheKey, Double>()
    let stats: ProxyStats

    init(models: [ModelRuntime], cache: TieredCache, stats: ProxyStats) {
        precondition(!models.isEmpty, "validated config has a model")
        self.models = Dictionary(uniqueKeysWithValues: models.map { ($0.name, $0) })
        self.modelOrder = models.map(\.name)
        self.defaultModel = models[0].name
        self.cache = cache
        self.stats = stats
    }

    /// Resolves the request's model, or the default when it names none (or names it empty).
    func model(named name: String?) throws(RequestError) -> ModelRuntime {
        let name = (name?.isEmpty ?? true) ? defaultModel : name!
        guard let model = models[name] else { throw .unknownModel(name) }
        return model
    }

    /// Scores every document of `request`, from cache where possible.
    /// - Throws: ``ProxyError`` for an unknown model or when a backend could not score the misses.
    func rerank(_ request: RerankRequest, logger: Logger) async throws(ProxyError) -> RerankResult {
        let model: ModelRuntime
        do { model = try self.model(named: request.model) } catch { throw .request(error, request.dialect) }
        let id = Self.requestID()

        // Key every document; a document repeated within the request is one pair.
        let encoder = CacheKeyEncoder(model: model.name, revision: model.revision, settings: request.settings, query: request.query)
        let pairs = PairKeys(encoder: encoder, texts: request.texts)
        let keys = pairs.keys

        var tally = RequestTally()
        let lookup = await cache.lookup(keys)
        var scores = lookup.scores
        tally.memoryHits = lookup.memoryHits
        tally.storeHits = lookup.storeHits
        tally.storeFailed = lookup.storeFailed

        var missing: [CacheKey] = []
        for (slot, score) in scores.enumerated() where score == nil { missing.append(keys[slot]) }
        var tokens = 0
        var failure: BackendError?

        if !missing.isEmpty {
            let claim = coalescer.claim(missing)
            if let flight = claim.flight {
                let led = await lead(flight, model: model, request: request, texts: flight.keys.map { request.texts[pairs.firstIndex[pairs.slot(of: $0)]] }, logger: logger)
                tokens = led.tokens
                tally.memoryHits += led.rechecked
                for key in flight.keys {
                    if let value = led.outcome.values[key] {
                        scores[pairs.slot(of: key)] = value
                    }
                }
                let forwardedOK = flight.keys.count - led.rechecked - led.failedCount
                tally.forwarded += forwardedOK
                tally.failed += led.failedCount
                if led.failedCount > 0 { failure = led.outcome.failure as? BackendError }
            }
            for (flight, joinedKeys) in claim.joined {
                let outcome = await flight.wait()
                for key in joinedKeys {
                    if let value = outcome.values[key] {
                        scores[pairs.slot(of: key)] = value
                        tally.coalesced += 1
                    } else {
                        tally.failed += 1
                        failure = failure ?? (outcome.failure as? BackendError)
                    }
                }
            }
        }
        stats.record(tally)

        if tally.failed > 0 {
            throw .backend(failure ?? .unreachable(backend: model.name, reason: "no score"), request.dialect)
        }
        var ordered = [Double](repeating: 0, count: request.texts.count)
        for i in ordered.indices { ordered[i] = scores[pairs.slotOf[i]]! }
        return RerankResult(id: id, model: model.name, scores: ordered, promptTokens: tokens)
    }

    /// `rerank-` and 32 random hex digits (UUID's formatting showed up in the hit-path profile).
    static func requestID() -> String {
        var generator = SystemRandomNumberGenerator()
        let digits = Array("0123456789abcdef".utf8)
        var bytes = Array("rerank-".utf8)
        bytes.reserveCapacity(39)
        for _ in 0..<2 {
            var word = generator.next()
            for _ in 0..<16 {
                bytes.append(digits[Int(word & 0xF)])
                word >>= 4
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private struct Led: Sendable {
        var outcome: Coalescer<CacheKey, Double>.Outcome
        var tokens: Int
        var rechecked: Int
        var failedCount: Int
    }

    /// Computes a flight this request leads, in a task that outlives the request if the client goes away.
    private func lead(
        _ flight: Coalescer<CacheKey, Double>.Flight,
        model: ModelRuntime,
        request: RerankRequest,
        texts: [String],
        logger: Logger
    ) async -> Led {
        let cache = self.cache
        let coalescer = self.coalescer
        let task = Task {
            var values: [CacheKey: Double] = [:]
            values.reserveCapacity(flight.keys.count)
            // A flight that completed between our lookup and our claim has already cached these.
            var toSend: [Int] = []
            for (n, key) in flight.keys.enumerated() {
                if let hit = cache.recheck(key) { values[key] = hit } else { toSend.append(n) }
            }
            let rechecked = flight.keys.count - toSend.count
            var tokens = 0
            var failure: BackendError?
            var failedCount = 0
            if !toSend.isEmpty {
                let chunks = await model.pool.score(
                    query: request.query, documents: toSend.map { texts[$0] }, settings: request.settings, logger: logger
                )
                var fresh: [(key: CacheKey, score: Double)] = []
                fresh.reserveCapacity(toSend.count)
                for chunk in chunks {
                    switch chunk.result {
                    case .success(let reply):
                        tokens += reply.tokens
                        for (offset, score) in zip(chunk.range, reply.scores) {
                            let key = flight.keys[toSend[offset]]
                            values[key] = score
                            fresh.append((key, score))
                        }
                    case .failure(let error):
                        failure = failure ?? error
                        failedCount += chunk.range.count
                        logger.warning("backend call failed", metadata: ["rerank.model": "\(model.name)", "error.type": "\(error)"])
                    }
                }
                // Cache before completing, so nobody who misses after the flight ends computes it again.
                cache.save(fresh)
            }
            let outcome = Coalescer<CacheKey, Double>.Outcome(values: values, failure: failure)
            coalescer.complete(flight, with: outcome)
            return Led(outcome: outcome, tokens: tokens, rechecked: rechecked, failedCount: failedCount)
        }
        return await task.value
    }
}
