extension BackendPool {
    /// Round-robin choice among healthy backends, passive ejection, and the chunk size in use. Pure: time
    /// is passed in, nothing is locked or awaited here.
    ///
    /// A backend that fails `ejectAfter` times in a row (timeouts, refused connections, 5xx, invalid
    /// answers) is left out for `ejectFor`; one success brings it back. While any backend is healthy, ejected
    /// ones are not tried at all; when none is, only the one due back soonest is tried, so a recovered fleet
    /// is found without waiting and a dead one costs one timeout per call, not one per backend.
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
        /// The most documents sent in one call: `maxBatch`, lowered to the smallest limit a backend published.
        private(set) var batchLimit: Int
        /// Backends whose per-call limit has been read, or that publish none.
        private(set) var limitKnown: Set<Int> = []

        init(count: Int, ejectAfter: Int, ejectFor: Duration, maxBatch: Int = 64) {
            precondition(count > 0, "a pool needs a backend")
            self.count = count
            self.ejectAfter = max(1, ejectAfter)
            self.ejectFor = ejectFor
            self.health = Array(repeating: Health(), count: count)
            self.batchLimit = max(1, maxBatch)
        }

        func isHealthy(_ index: Int, now: Duration) -> Bool {
            guard let until = health[index].ejectedUntil else { return true }
            return now >= until
        }

        /// The backends to try for one call, in order: every healthy one, starting at the round-robin cursor;
        /// or, when none is healthy, only the ejected one due back soonest.
        mutating func attemptOrder(now: Duration) -> [Int] {
            let start = cursor
            cursor = (cursor + 1) % count
            var healthy: [Int] = []
            for step in 0..<count {
                let index = (start + step) % count
                if isHealthy(index, now: now) { healthy.append(index) }
            }
            if !healthy.isEmpty { return healthy }
            let soonest = health.indices.min { (health[$0].ejectedUntil ?? .zero) < (health[$1].ejectedUntil ?? .zero) }
            return soonest.map { [$0] } ?? []
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

        /// Backends whose limit is still to be read.
        var limitsToDiscover: [Int] { (0..<count).filter { !limitKnown.contains($0) } }

        /// Records a backend's published limit (`nil`: it publishes none); returns the previous chunk size
        /// when this lowered it.
        mutating func limitDiscovered(_ index: Int, limit: Int?) -> Int? {
            limitKnown.insert(index)
            guard let limit, limit > 0, limit < batchLimit else { return nil }
            defer { batchLimit = limit }
            return batchLimit
        }
    }
}
