import Testing

@testable import RerankCore

@Suite struct CoalescerStateMachineTests {
    typealias Machine = Coalescer<String, Double>.StateMachine

    @Test func firstClaimLeadsEverything() {
        var machine = Machine()
        let claim = machine.claim(["a", "b"])
        #expect(claim == .init(flight: 0, lead: ["a", "b"], joined: []))
        #expect(machine.inFlight == ["a": 0, "b": 0])
    }

    @Test func overlappingClaimJoinsAndLeadsTheRest() {
        var machine = Machine()
        _ = machine.claim(["a", "b"])
        let second = machine.claim(["b", "c"])
        #expect(second == .init(flight: 1, lead: ["c"], joined: [("b", 0)]))
        let third = machine.claim(["a", "c"])
        #expect(third == .init(flight: nil, lead: [], joined: [("a", 0), ("c", 1)]))
    }

    @Test func finishingForgetsOnlyTheFlightsOwnKeys() {
        var machine = Machine()
        _ = machine.claim(["a", "b"])
        _ = machine.claim(["c"])
        machine.finish(flight: 0, keys: ["a", "b"])
        #expect(machine.inFlight == ["c": 1])
        // A later miss of a finished key starts a new flight.
        #expect(machine.claim(["a"]) == .init(flight: 2, lead: ["a"], joined: []))
        // Finishing a stale flight id for a key now led by another flight changes nothing.
        machine.finish(flight: 0, keys: ["a"])
        #expect(machine.inFlight["a"] == 2)
    }
}

@Suite struct CoalescerTests {
    @Test func waitersGetTheLeadersOutcome() async {
        let coalescer = Coalescer<String, Double>()
        let leader = coalescer.claim(["a", "b"])
        let follower = coalescer.claim(["b", "c"])
        #expect(follower.joined.count == 1)
        #expect(follower.joined[0].keys == ["b"])
        #expect(coalescer.inFlightCount == 3)
        let waiter = Task { await follower.joined[0].flight.wait() }
        coalescer.complete(leader.flight!, with: .init(values: ["a": 1, "b": 2]))
        #expect(await waiter.value.values["b"] == 2)
        #expect(coalescer.inFlightCount == 1)
        // Waiting after completion returns at once.
        #expect(await leader.flight!.wait().values["a"] == 1)
        coalescer.complete(follower.flight!, with: .init(values: [:], failures: ["c": FlightFailure(error: CancellationError(), belongsToKey: false)]))
        #expect(await follower.flight!.wait().failures["c"]?.error is CancellationError)
        #expect(coalescer.inFlightCount == 0)
    }

    @Test func manyConcurrentClaimsLeadEachKeyOnce() async {
        let coalescer = Coalescer<Int, Double>()
        let keys = Array(0..<50)
        let led = await withTaskGroup(of: [Int].self) { group in
            for _ in 0..<24 {
                group.addTask { coalescer.claim(keys).flight?.keys ?? [] }
            }
            var all: [Int] = []
            for await keys in group { all += keys }
            return all
        }
        #expect(led.sorted() == keys)
    }
}
