import Logging
import RerankBackends
import RerankCore

extension RerankPipeline {
    /// One request's part of a batch: its result (whose tally says where its unique pairs' scores came from) or why
    /// it failed.
    struct BatchItem: Sendable {
        var result: Result<RerankResult, ProxyError>
    }

    /// Scores every request of a batch together: all their pairs go through the cache tiers and the coalescer as
    /// one plan, so a pair repeated across requests (same query, settings and document) is looked up and scored
    /// once, and the misses of each query go to the backends in as few calls as `max_batch` allows.
    /// - Parameters:
    ///   - models: the snapshot of the models to use (``Runtime/models``, read once per request or job chunk).
    ///   - priority: `.background` for job work, which only takes backend slots interactive traffic leaves free.
    /// - Returns: one item per request, in order; a request whose pairs failed carries its error, the others
    ///   their scores.
    /// - Throws: ``ProxyError`` when the model is unknown or a request's settings cannot be honoured (naming it).
    /// With a client `timeout` (`X-Request-Timeout` on `/v1/rerank/batch`), the batch answers 504 when it passes;
    /// chunks not yet sent are not sent, calls already sent complete and are cached (as for `/v1/rerank`).
    func rerankBatch(
        _ requests: [RerankRequest], model name: String?, models: ModelTable, namespace: String?, priority: BackendPool.Priority,
        timeout: Duration?, logger: Logger
    ) async throws(ProxyError) -> [BatchItem] {
        guard let timeout else {
            return try await rerankBatch(requests, model: name, models: models, namespace: namespace, priority: priority, logger: logger)
        }
        let sendBy = ContinuousClock.now + timeout
        let answer = await Deadline.race(sleep: { try await Task.sleep(for: timeout) }) { () -> Result<[BatchItem], ProxyError> in
            do throws(ProxyError) {
                return .success(
                    try await self.rerankBatch(
                        requests, model: name, models: models, namespace: namespace, priority: priority, sendBy: sendBy, logger: logger
                    )
                )
            } catch {
                return .failure(error)
            }
        }
        guard let answer else { throw .backend(.clientDeadline(model: name ?? models.defaultModel), .documents) }
        return try answer.get()
    }

    func rerankBatch(
        _ requests: [RerankRequest], model name: String?, models: ModelTable, namespace: String?, priority: BackendPool.Priority,
        sendBy: ContinuousClock.Instant? = nil, logger: Logger
    ) async throws(ProxyError) -> [BatchItem] {
        let model: ModelRuntime
        var groups: [Work.Group] = []
        var groupOf: [Int] = []
        do throws(RequestError) {
            model = try models.model(named: name)
            var groupIndex: [Work.Group: Int] = [:]
            for (i, request) in requests.enumerated() {
                let settings: ScoreSettings
                do throws(RequestError) {
                    settings = try model.api.honoured(request.settings, maxTokensPerDoc: request.maxTokensPerDoc)
                } catch {
                    throw RequestError.invalid("requests[\(i)]: \(error.message)", param: "requests[\(i)]")
                }
                groupOf.append(Self.intern(Work.Group(query: request.query, settings: settings), in: &groups, index: &groupIndex))
            }
        } catch {
            throw .request(error, .documents)
        }

        // One key per distinct (query, settings, document) over the whole batch.
        var keys: [CacheKey] = []
        var pairOfSlot: [(group: Int, text: String)] = []
        var slotByKey: [CacheKey: Int] = [:]
        var slotsOf: [[Int]] = []
        // One generation for the whole batch: a purge during it applies from the next request on.
        let generation = model.generation.current
        let encoders = groups.map {
            CacheKeyEncoder(
                model: model.name, revision: model.revision, settings: $0.settings, query: $0.query, namespace: namespace, generation: generation,
                modelTag: model.tag
            )
        }
        for (r, request) in requests.enumerated() {
            var slots: [Int] = []
            slots.reserveCapacity(request.texts.count)
            for text in request.texts {
                let before = keys.count
                slots.append(Self.intern(encoders[groupOf[r]].key(document: text), in: &keys, index: &slotByKey))
                if keys.count > before { pairOfSlot.append((groupOf[r], text)) }
            }
            slotsOf.append(slots)
        }
        var plan = RerankPlan(keys: keys)
        let lookupSlot = slotByKey
        let pairs = pairOfSlot
        await resolve(&plan, model: model, priority: priority, logger: logger) {
            Work(groups: groups, sendBy: sendBy, priority: priority) { key in
                guard let slot = lookupSlot[key] else { preconditionFailure("a key that is not this batch's") }
                return pairs[slot]
            }
        }
        stats.record(plan.tally)
        return Self.items(plan: plan, requests: requests, slotsOf: slotsOf, model: model)
    }

    /// The position of `value` in `values`, appending it when new (`index` maps each value to its position).
    private static func intern<T: Hashable>(_ value: T, in values: inout [T], index: inout [T: Int]) -> Int {
        if let position = index[value] { return position }
        index[value] = values.count
        values.append(value)
        return values.count - 1
    }

    /// Splits a settled batch plan into each request's answer.
    private static func items(plan: RerankPlan, requests: [RerankRequest], slotsOf: [[Int]], model: ModelRuntime) -> [BatchItem] {
        let forwardedTotal = max(1, plan.tally.forwarded)
        var counted = Set<Int>()
        return requests.indices.map { r in
            let slots = slotsOf[r]
            var tally = RequestTally()
            var failedAt: (failure: FlightFailure, index: Int)?
            var scores = [Double](repeating: 0, count: slots.count)
            var sources = [RerankPlan.Source](repeating: .pending, count: slots.count)
            var seen = Set<Int>()
            for (i, slot) in slots.enumerated() {
                scores[i] = plan.scores[slot]
                sources[i] = plan.sources[slot]
                guard seen.insert(slot).inserted else { continue }
                switch plan.sources[slot] {
                case .memory, .recheck: tally.memoryHits += 1
                case .store: tally.storeHits += 1
                case .coalesced, .remote: tally.coalesced += 1
                // A pair forwarded once counts as forwarded for the first request holding it, coalesced for the others.
                case .forwarded: if counted.insert(slot).inserted { tally.forwarded += 1 } else { tally.coalesced += 1 }
                case .failed, .pending:
                    tally.failed += 1
                    let failure = plan.failure(at: slot) ?? FlightFailure(error: RerankPlan.PlanError.noScore, belongsToKey: false)
                    if failedAt == nil || (failure.belongsToKey && failedAt?.failure.belongsToKey == false) { failedAt = (failure, i) }
                }
            }
            if let failedAt {
                let error = proxyError(failedAt.failure, index: failedAt.index, model: model, dialect: .documents)
                return BatchItem(result: .failure(error))
            }
            // Tokens are reported for the whole batch; each request is given its share of the forwarded pairs'.
            tally.tokens = plan.tally.tokens * tally.forwarded / forwardedTotal
            let result = RerankResult(
                id: requestID(), model: model.name, scores: scores, promptTokens: tally.tokens, sources: sources, tally: tally
            )
            return BatchItem(result: .success(result))
        }
    }
}
