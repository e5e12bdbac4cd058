extension BackendPool {
    /// Round-robin choice among healthy backends, with passive ejection. Pure: time is passed in.
    ///
    /// A backend that fails `ejectAfter` times in a row (timeouts, refused connections, 5xx) is left out
    /// for `ejectFor`; one success brings it back. When every backend is ejected, the one due back
    /// soonest is still tried, so a recovered fleet is found without waiting.
    struct StateMachine {
        struct Health: Equatable {
            var consecutiveFailures = 0
            var ejectedUntil: Duration?
        }

        enum Event: Equatable {
            case none
            case ejected(index: Int)
            case recovered(index: Int)
        }

        let count: Int
        let ejectAfter: Int
        let ejectFor: Duration
        private(set) var health: [Health]
        private var cursor = 0

        init(count: Int, ejectAfter: Int, ejectFor: Duration) {
            precondition(count > 0, "a pool needs a backend")
            self.count = count
            self.ejectAfter = max(1, ejectAfter)
            self.ejectFor = ejectFor
            self.health = Array(repeating: Health(), count: count)
        }

        func isHealthy(_ index: Int, now: Duration) -> Bool {
            guard let until = health[index].ejectedUntil else { return true }
            return now >= until
        }

        /// The order to try backends in for one call: the next healthy ones round-robin, then the ejected
        /// ones by how soon they are due back.
        mutating func attemptOrder(now: Duration) -> [Int] {
            let start = cursor
            cursor = (cursor + 1) % count
            var healthy: [Int] = []
            var ejected: [Int] = []
            for step in 0..<count {
                let index = (start + step) % count
                if isHealthy(index, now: now) { healthy.append(index) } else { ejected.append(index) }
            }
            ejected.sort { (health[$0].ejectedUntil ?? .zero) < (health[$1].ejectedUntil ?? .zero) }
            return healthy + ejected
        }

        mutating func succeeded(_ index: Int) -> Event {
            let wasEjected = health[index].ejectedUntil != nil
            health[index] = Health()
            return wasEjected ? .recovered(index: index) : .none
        }

        mutating func failed(_ index: Int, now: Duration) -> Event {
            health[index].consecutiveFailures += 1
            guard health[index].consecutiveFailures >= ejectAfter else { return .none }
            let wasHealthy = isHealthy(index, now: now)
            health[index].ejectedUntil = now + ejectFor
            return wasHealthy ? .ejected(index: index) : .none
        }
    }
}
