import Testing

@testable import RerankCore

@Suite struct RerankPlanTests {
    struct Refused: Error {}
    struct TimedOut: Error {}

    let keys: [CacheKey] = ["a", "b", "c", "d"].map { CacheKeyEncoder(model: "m", revision: "", settings: .init(), query: "q").key(document: $0) }
    typealias Outcome = Coalescer<CacheKey, Double>.Outcome

    @Test func hitsAreSettledAndOnlyMissesAreClaimed() {
        var plan = RerankPlan(keys: keys)
        let missing = plan.lookedUp([1, nil, 3, nil], fromStore: [false, false, true, false])
        #expect(missing == [keys[1], keys[3]])
        #expect(plan.sources == [.memory, .pending, .store, .pending])
        #expect(plan.tally.memoryHits == 1)
        #expect(plan.tally.storeHits == 1)
    }

    @Test func ledAndJoinedScoresAreMergedAndTallied() {
        var plan = RerankPlan(keys: keys)
        _ = plan.lookedUp([1, nil, nil, nil])
        plan.led([keys[1], keys[2]], outcome: Outcome(values: [keys[1]: 2, keys[2]: 3]), rechecked: [keys[2]], tokens: 7)
        #expect(plan.joined([keys[3]], outcome: Outcome(values: [keys[3]: 4])).isEmpty)
        #expect(plan.sources == [.memory, .forwarded, .recheck, .coalesced])
        #expect(plan.tally == {
            var t = RequestTally()
            t.memoryHits = 2
            t.forwarded = 1
            t.coalesced = 1
            t.tokens = 7
            return t
        }())
        guard case .scores(let scores) = plan.finish() else {
            Issue.record("expected scores")
            return
        }
        #expect(scores == [1, 2, 3, 4])
    }

    @Test func aJoinerWhoseKeyFailedForTheFlightsReasonClaimsItAgain() {
        var plan = RerankPlan(keys: keys)
        _ = plan.lookedUp([1, 2, 3, nil])
        let failed = Outcome(values: [:], failures: [keys[3]: FlightFailure(error: TimedOut(), belongsToKey: false)])
        #expect(plan.joined([keys[3]], outcome: failed) == [keys[3]])
        #expect(plan.sources[3] == .pending)
        // It leads the key itself now, and that answer is final.
        plan.led([keys[3]], outcome: Outcome(values: [keys[3]: 4]), rechecked: [], tokens: 0)
        #expect(plan.sources[3] == .forwarded)
    }

    @Test func aJoinerGivesUpAfterMaxJoins() {
        var plan = RerankPlan(keys: keys)
        _ = plan.lookedUp([1, 2, 3, nil])
        let failed = Outcome(values: [:], failures: [keys[3]: FlightFailure(error: TimedOut(), belongsToKey: false)])
        for _ in 1..<RerankPlan.maxJoins { #expect(plan.joined([keys[3]], outcome: failed) == [keys[3]]) }
        #expect(plan.joined([keys[3]], outcome: failed).isEmpty)
        guard case .failed(let failure, let slot) = plan.finish() else {
            Issue.record("expected a failure")
            return
        }
        #expect(slot == 3)
        #expect(failure.error is TimedOut)
    }

    @Test func aFailureThatBelongsToTheKeyIsSharedNotRetried() {
        var plan = RerankPlan(keys: keys)
        _ = plan.lookedUp([1, 2, 3, nil])
        let refused = Outcome(values: [:], failures: [keys[3]: FlightFailure(error: Refused(), belongsToKey: true)])
        #expect(plan.joined([keys[3]], outcome: refused).isEmpty)
        #expect(plan.tally.failed == 1)
    }

    @Test func aRefusalIsReportedBeforeABackendFault() {
        var plan = RerankPlan(keys: keys)
        _ = plan.lookedUp([nil, 2, nil, 4])
        plan.led(
            [keys[0], keys[2]],
            outcome: Outcome(values: [:], failures: [
                keys[0]: FlightFailure(error: TimedOut(), belongsToKey: false),
                keys[2]: FlightFailure(error: Refused(), belongsToKey: true),
            ]),
            rechecked: [], tokens: 0
        )
        guard case .failed(let failure, let slot) = plan.finish() else {
            Issue.record("expected a failure")
            return
        }
        #expect(slot == 2)
        #expect(failure.error is Refused)
    }
}
