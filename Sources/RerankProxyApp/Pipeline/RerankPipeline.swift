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
/// Every decision (what to claim, what to claim again, where a score came from, what to answer) is made by
/// ``RerankPlan`` in RerankCore; this type only runs the IO. Forwarding runs in a task of its own, not the
/// request's: a client that disconnects does not cancel the backend call that other requests may be waiting
/// on, and its scores are still cached.
final class RerankPipeline: Sendable {
    /// The models and keys, swapped whole by a policy reload; the cache and coalescer below outlive every reload.
    let runtime: RuntimeHolder
    let cache: TieredCache
    let coalescer = Coalescer<CacheKey, Double>()
    /// Job (background) work's flights. Apart so an interactive request never joins a flight that waits in the
    /// pool's background lane (behind all interactive traffic); at worst a pair both want is scored twice.
    let backgroundCoalescer = Coalescer<CacheKey, Double>()
    let stats: ProxyStats
    /// Leases shared with the other replicas (Redis), so a pair is scored once across all of them; `nil` alone.
    let leases: (any PairLeases)?

    init(runtime: RuntimeHolder, cache: TieredCache, stats: ProxyStats, leases: (any PairLeases)? = nil) {
        self.runtime = runtime
        self.cache = cache
        self.stats = stats
        self.leases = leases
    }

    /// A pipeline serving `models` with auth off.
    convenience init(models: [ModelRuntime], cache: TieredCache, stats: ProxyStats, leases: (any PairLeases)? = nil) {
        self.init(runtime: RuntimeHolder(Runtime(models: models)), cache: cache, stats: stats, leases: leases)
    }

    /// Scores every document of `request`, from cache where possible.
    /// - Throws: ``ProxyError`` for an unknown model, a setting the model's backends cannot honour, a
    ///   document a backend refused (4xx), or when no backend could score the misses (5xx).
    /// - Parameters:
    ///   - models: the request's snapshot of the models (``Runtime/models``, read once); the current ones when `nil`.
    ///   - namespace: the tenant's name when its API key isolates its cache; part of every key and flight.
    ///
    /// With a client `timeout` (`X-Request-Timeout`), the request answers 504 when it passes; chunks of its
    /// misses not yet sent are not sent, while calls already sent complete and are cached for the others.
    func rerank(
        _ request: RerankRequest, models: ModelTable? = nil, namespace: String? = nil, timeout: Duration? = nil, logger: Logger
    ) async throws(ProxyError) -> RerankResult {
        let models = models ?? runtime.current.models
        guard let timeout else { return try await rerank(request, models: models, namespace: namespace, sendBy: nil, logger: logger) }
        // One absolute deadline for every backend round of this request (a re-claimed key or an orphan scored
        // later gets what is left of it, not a fresh window).
        let sendBy = ContinuousClock.now + timeout
        let answer = await Deadline.race(sleep: { try await Task.sleep(for: timeout) }) { () -> Result<RerankResult, ProxyError> in
            do throws(ProxyError) {
                return .success(try await self.rerank(request, models: models, namespace: namespace, sendBy: sendBy, logger: logger))
            } catch {
                return .failure(error)
            }
        }
        guard let answer else { throw .backend(.clientDeadline(model: request.model ?? models.defaultModel), request.dialect) }
        return try answer.get()
    }

    private func rerank(
        _ request: RerankRequest, models: ModelTable, namespace: String?, sendBy: ContinuousClock.Instant?, logger: Logger
    ) async throws(ProxyError) -> RerankResult {
        let model: ModelRuntime
        let settings: ScoreSettings
        do {
            model = try models.model(named: request.model)
            settings = try model.api.honoured(request.settings, maxTokensPerDoc: request.maxTokensPerDoc)
        } catch {
            throw .request(error, request.dialect)
        }
        let id = Self.requestID()

        // Key every document; a document repeated within the request is one pair.
        let encoder = CacheKeyEncoder(
            model: model.name, revision: model.revision, settings: settings, query: request.query, namespace: namespace,
            generation: model.generation.current, modelTag: model.tag
        )
        let pairs = PairKeys(encoder: encoder, texts: request.texts)
        var plan = RerankPlan(keys: pairs.keys)
        // Built only when a flight is led: a request served from cache allocates no closure or group list.
        await resolve(&plan, model: model, logger: logger) {
            Work(groups: [Work.Group(query: request.query, settings: settings)], sendBy: sendBy, priority: .interactive) { key in
                (group: 0, text: request.texts[pairs.firstIndex[pairs.slot(of: key)]])
            }
        }
        stats.record(plan.tally)

        switch plan.finish() {
        case .scores(let scores):
            var ordered = [Double](repeating: 0, count: request.texts.count)
            var sources = [RerankPlan.Source](repeating: .pending, count: request.texts.count)
            for i in ordered.indices {
                ordered[i] = scores[pairs.slotOf[i]]
                sources[i] = plan.sources[pairs.slotOf[i]]
            }
            return RerankResult(id: id, model: model.name, scores: ordered, promptTokens: plan.tally.tokens, sources: sources, tally: plan.tally)
        case .failed(let failure, let slot):
            throw Self.proxyError(failure, index: pairs.firstIndex[slot], model: model, dialect: request.dialect)
        }
    }

    /// Settles every key of `plan`: cache tiers first, then the coalescer, leading flights for what nobody
    /// has in flight and joining the others' (claiming again what failed in a flight it only joined).
    /// - Parameter work: what the keys score; called once, when the first flight is led.
    func resolve(
        _ plan: inout RerankPlan, model: ModelRuntime, priority: BackendPool.Priority = .interactive, logger: Logger, work makeWork: () -> Work
    ) async {
        let coalescer = priority == .background ? backgroundCoalescer : self.coalescer
        let lookup = await cache.lookup(plan.keys)
        var toClaim = plan.lookedUp(lookup.scores, fromStore: lookup.fromStore, storeFailed: lookup.storeFailed)
        var work: Work?
        while !toClaim.isEmpty {
            let claim = coalescer.claim(toClaim)
            toClaim = []
            if let flight = claim.flight {
                let flightWork = work ?? makeWork()
                work = flightWork
                let led = await lead(flight, in: coalescer, model: model, work: flightWork, logger: logger)
                plan.led(flight.keys, outcome: led.outcome, rechecked: led.rechecked, remote: led.remote, tokens: led.tokens)
            }
            for (flight, keys) in claim.joined {
                toClaim += plan.joined(keys, outcome: await flight.wait())
            }
        }
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
        var rechecked: Set<CacheKey>
        var remote: Set<CacheKey>
        var tokens: Int
    }

    /// Computes a flight this request leads, in a task that outlives the request if the client goes away.
    /// The flight is always completed, so nobody waiting on it can be left hanging.
    private func lead(
        _ flight: Coalescer<CacheKey, Double>.Flight,
        in coalescer: Coalescer<CacheKey, Double>,
        model: ModelRuntime,
        work: Work,
        logger: Logger
    ) async -> Led {
        let cache = self.cache
        let sendBy = work.sendBy
        let pairs = flight.keys.map(work.pair)
        let task = Task {
            /// What is left of the client's deadline for the next backend round (`nil`: none was given).
            func sendWithin() -> Duration? { sendBy.map { max(.zero, $0 - .now) } }
            var values: [CacheKey: Double] = [:]
            var failures: [CacheKey: FlightFailure] = [:]
            var rechecked = Set<CacheKey>()
            values.reserveCapacity(flight.keys.count)
            // A flight that completed between our lookup and our claim has already cached these.
            var toSend: [Int] = []
            for (n, key) in flight.keys.enumerated() {
                if let hit = cache.recheck(key) {
                    values[key] = hit
                    rechecked.insert(key)
                } else {
                    toSend.append(n)
                }
            }
            var tokens = 0
            var remote = Set<CacheKey>()
            if !toSend.isEmpty {
                // Across replicas: score only the pairs this replica holds the lease of; wait for the others'
                // scores, and score those whose lease ended without one (their replica died or failed).
                var mine = toSend
                var theirs: [Int] = []
                var scored: Scored
                var waited: [Double?] = []
                if let leases = self.leases {
                    let owned = await leases.acquire(toSend.map { flight.keys[$0] })
                    mine = zip(toSend, owned).filter(\.1).map(\.0)
                    theirs = zip(toSend, owned).filter { !$0.1 }.map(\.0)
                }
                // Our leases go back as soon as our own pairs are scored, before waiting on anyone else's: two
                // replicas that each hold a lease the other waits on must not block each other until expiry.
                if theirs.isEmpty {
                    scored = await score(mine, flight: flight, model: model, work: work, pairs: pairs, sendWithin: sendWithin(), logger: logger)
                    await handBack(scored, owned: mine.map { flight.keys[$0] })
                } else if let leases = self.leases {
                    let deadline = ContinuousClock.now + model.pool.configuration.chunkTimeout
                    async let others = leases.wait(for: theirs.map { flight.keys[$0] }, until: deadline)
                    scored = await score(mine, flight: flight, model: model, work: work, pairs: pairs, sendWithin: sendWithin(), logger: logger)
                    await handBack(scored, owned: mine.map { flight.keys[$0] })
                    waited = await others
                } else {
                    scored = Scored()
                }
                var orphans: [Int] = []
                var fetched: [(key: CacheKey, score: Double)] = []
                for (i, n) in theirs.enumerated() {
                    if i < waited.count, let score = waited[i] {
                        values[flight.keys[n]] = score
                        remote.insert(flight.keys[n])
                        fetched.append((flight.keys[n], score))
                    } else {
                        orphans.append(n)
                    }
                }
                cache.remember(fetched)
                if !orphans.isEmpty {
                    let more = await score(orphans, flight: flight, model: model, work: work, pairs: pairs, sendWithin: sendWithin(), logger: logger)
                    cache.save(more.values.map { (key: $0.key, score: $0.value) })
                    scored.merge(more)
                }
                tokens = scored.tokens
                for (key, score) in scored.values { values[key] = score }
                for (key, failure) in scored.failures { failures[key] = failure }
            }
            let outcome = Coalescer<CacheKey, Double>.Outcome(values: values, failures: failures)
            coalescer.complete(flight, with: outcome)
            return Led(outcome: outcome, rechecked: rechecked, remote: remote, tokens: tokens)
        }
        return await task.value
    }

    /// Gives this replica's leases back: scored pairs are written to the shared store first (so replicas waiting
    /// on them read the score, not an empty lease), failed ones are freed so others take over at once.
    ///
    /// Also caches the scores (every tier) before anything is released or completed, so nobody who misses
    /// after this computes them again.
    private func handBack(_ scored: Scored, owned keys: [CacheKey]) async {
        cache.save(scored.values.map { (key: $0.key, score: $0.value) })
        guard let leases, !keys.isEmpty else { return }
        let owned = Set(keys)
        let stored = scored.values.filter { owned.contains($0.key) }.map { (key: $0.key, score: $0.value) }
        let failed = scored.failures.keys.filter { owned.contains($0) }
        if !stored.isEmpty || !failed.isEmpty { await leases.release(stored.map(\.key) + failed, storing: stored) }
    }

    /// What one backend round for some of a flight's keys produced.
    private struct Scored: Sendable {
        var values: [CacheKey: Double] = [:]
        var failures: [CacheKey: FlightFailure] = [:]
        var tokens = 0

        mutating func merge(_ other: Scored) {
            values.merge(other.values) { a, _ in a }
            failures.merge(other.failures) { a, _ in a }
            tokens += other.tokens
        }
    }

    /// Scores the flight's keys at `positions` on the model's pool: one pool call per (query, settings) group,
    /// each split by the pool into chunks of at most `max_batch`, the groups sent concurrently.
    private func score(
        _ positions: [Int], flight: Coalescer<CacheKey, Double>.Flight, model: ModelRuntime, work: Work, pairs: [(group: Int, text: String)],
        sendWithin: Duration?, logger: Logger
    ) async -> Scored {
        guard !positions.isEmpty else { return Scored() }
        // A single request has one group: no grouping to do.
        if work.groups.count == 1 {
            return await score(positions, group: work.groups[0], flight: flight, model: model, work: work, pairs: pairs, sendWithin: sendWithin, logger: logger)
        }
        var byGroup: [Int: [Int]] = [:]
        for n in positions { byGroup[pairs[n].group, default: []].append(n) }
        if byGroup.count == 1, let (group, members) = byGroup.first {
            return await score(members, group: work.groups[group], flight: flight, model: model, work: work, pairs: pairs, sendWithin: sendWithin, logger: logger)
        }
        return await withTaskGroup(of: Scored.self) { tasks in
            for (group, members) in byGroup {
                tasks.addTask {
                    await self.score(members, group: work.groups[group], flight: flight, model: model, work: work, pairs: pairs, sendWithin: sendWithin, logger: logger)
                }
            }
            var scored = Scored()
            for await part in tasks { scored.merge(part) }
            return scored
        }
    }

    /// Scores the keys at `positions`, which all belong to `group`, in one pool call.
    private func score(
        _ positions: [Int], group: Work.Group, flight: Coalescer<CacheKey, Double>.Flight, model: ModelRuntime, work: Work,
        pairs: [(group: Int, text: String)], sendWithin: Duration?, logger: Logger
    ) async -> Scored {
        var scored = Scored()
        let outcome = await model.pool.score(
            query: group.query, documents: positions.map { pairs[$0].text }, settings: group.settings, sendWithin: sendWithin,
            priority: work.priority, logger: logger
        )
        scored.tokens = outcome.tokens
        var logged = false
        for (offset, n) in positions.enumerated() {
            let key = flight.keys[n]
            if let score = outcome.scores[offset] {
                scored.values[key] = score
            } else if let error = outcome.errors[offset] {
                scored.failures[key] = FlightFailure(error: error, belongsToKey: error.isRefusal)
                if !logged {
                    logged = true
                    logger.warning("backend call failed", metadata: ["rerank.model": "\(model.name)", "error.type": "\(error)"])
                }
            }
        }
        return scored
    }
}
