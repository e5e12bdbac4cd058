/// Every decision of one rerank request's path, without IO: which keys to claim after the cache lookup,
/// which to claim again after a flight someone else led failed, where each score came from, what to tally,
/// and what the request answers. The pipeline only runs the IO it is told to and feeds the results back.
///
/// ```swift
/// var plan = RerankPlan(keys: pairs.keys)
/// var toClaim = plan.lookedUp(lookup.scores, fromStore: lookup.fromStore, storeFailed: lookup.storeFailed)
/// while !toClaim.isEmpty {
///     let claim = coalescer.claim(toClaim)
///     toClaim = []
///     if let flight = claim.flight { plan.led(flight.keys, outcome: await run(flight), rechecked: …) }
///     for (flight, keys) in claim.joined { toClaim += plan.joined(keys, outcome: await flight.wait()) }
/// }
/// switch plan.finish() { … }
/// ```
/// A key that failed in a flight this request only joined is claimed again (so it leads at least once
/// more) unless the failure belongs to the key itself; after ``maxJoins`` joins it fails with the last reason.
public struct RerankPlan: Sendable {
    /// Where a slot's score came from.
    public enum Source: UInt8, Sendable, Equatable {
        /// `remote`: another replica scored it while this one waited on its lease (cross-replica coalescing).
        case pending, memory, store, recheck, coalesced, remote, forwarded, failed
    }

    /// What the request answers.
    public enum Finish: Sendable {
        /// A score per slot.
        case scores([Double])
        /// The failure to report, and the slot it belongs to. Failures that belong to a key (a refused
        /// document) are preferred, since the client must fix those whatever else went wrong.
        case failed(FlightFailure, slot: Int)
    }

    /// How often a slot may be joined to someone else's flight before its failure is final.
    public static let maxJoins = 3

    public let keys: [CacheKey]
    public private(set) var scores: [Double]
    public private(set) var sources: [Source]
    public private(set) var tally = RequestTally()
    private var failures: [Int: FlightFailure] = [:]
    private var joins: [UInt8]
    /// Built on the first flight result: a request served from cache (the hot path) never needs it.
    private var slotByKey: [CacheKey: Int] = [:]

    public init(keys: [CacheKey]) {
        self.keys = keys
        scores = Array(repeating: 0, count: keys.count)
        sources = Array(repeating: .pending, count: keys.count)
        joins = Array(repeating: 0, count: keys.count)
    }

    /// Records the cache lookup (a score per key, `nil` for a miss); returns the keys to claim.
    /// - Parameter fromStore: per key, whether a hit came from the store rather than memory (`nil`: all memory).
    public mutating func lookedUp(_ found: [Double?], fromStore: [Bool]? = nil, storeFailed: Bool = false) -> [CacheKey] {
        precondition(found.count == keys.count, "one lookup result per key")
        tally.storeFailed = storeFailed
        var missing: [CacheKey] = []
        for (slot, score) in found.enumerated() {
            guard let score else {
                missing.append(keys[slot])
                continue
            }
            scores[slot] = score
            if fromStore?[slot] == true {
                sources[slot] = .store
                tally.storeHits += 1
            } else {
                sources[slot] = .memory
                tally.memoryHits += 1
            }
        }
        return missing
    }

    /// Records a flight this request led. `rechecked` are the led keys found cached just before forwarding,
    /// `remote` those another replica scored while this one waited on its lease.
    public mutating func led(
        _ flightKeys: [CacheKey], outcome: Coalescer<CacheKey, Double>.Outcome, rechecked: Set<CacheKey>, remote: Set<CacheKey> = [], tokens: Int
    ) {
        tally.tokens += tokens
        for key in flightKeys {
            guard let slot = slot(of: key), sources[slot] == .pending else { continue }
            if let value = outcome.values[key] {
                scores[slot] = value
                if rechecked.contains(key) {
                    sources[slot] = .recheck
                    tally.memoryHits += 1
                } else if remote.contains(key) {
                    sources[slot] = .remote
                    tally.coalesced += 1
                } else {
                    sources[slot] = .forwarded
                    tally.forwarded += 1
                }
            } else {
                fail(slot, outcome.failures[key])
            }
        }
    }

    /// Records a flight this request joined for `joinedKeys`; returns the keys to claim again.
    public mutating func joined(_ joinedKeys: [CacheKey], outcome: Coalescer<CacheKey, Double>.Outcome) -> [CacheKey] {
        var again: [CacheKey] = []
        for key in joinedKeys {
            guard let slot = slot(of: key), sources[slot] == .pending else { continue }
            if let value = outcome.values[key] {
                scores[slot] = value
                sources[slot] = .coalesced
                tally.coalesced += 1
                continue
            }
            let failure = outcome.failures[key]
            joins[slot] += 1
            if failure?.belongsToKey != true, Int(joins[slot]) < Self.maxJoins {
                again.append(key)
            } else {
                fail(slot, failure)
            }
        }
        return again
    }

    private mutating func slot(of key: CacheKey) -> Int? {
        if slotByKey.isEmpty { slotByKey = Dictionary(uniqueKeysWithValues: keys.enumerated().map { ($1, $0) }) }
        return slotByKey[key]
    }

    private mutating func fail(_ slot: Int, _ failure: FlightFailure?) {
        sources[slot] = .failed
        tally.failed += 1
        if let failure { failures[slot] = failure }
    }

    /// Why `slot` failed, when it did and a reason was recorded.
    public func failure(at slot: Int) -> FlightFailure? {
        failures[slot]
    }

    /// The answer, once no slot is pending.
    public func finish() -> Finish {
        precondition(!sources.contains(.pending), "finish() before every key was settled")
        guard tally.failed > 0 else { return .scores(scores) }
        let failedSlots = sources.indices.filter { sources[$0] == .failed }
        let chosen = failedSlots.first { failures[$0]?.belongsToKey == true } ?? failedSlots.first { failures[$0] != nil }
        guard let slot = chosen, let failure = failures[slot] else {
            return .failed(FlightFailure(error: PlanError.noScore, belongsToKey: false), slot: failedSlots[0])
        }
        return .failed(failure, slot: slot)
    }

    /// A failure with no recorded reason (a flight that produced neither a value nor an error for a key).
    public enum PlanError: Error, Sendable {
        case noScore
    }
}

/// What one request did, for `/v1/stats` and metrics.
public struct RequestTally: Sendable, Equatable {
    public var memoryHits = 0
    public var storeHits = 0
    public var coalesced = 0
    public var forwarded = 0
    public var failed = 0
    public var tokens = 0
    public var storeFailed = false

    public init() {}
}
