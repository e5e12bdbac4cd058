extension BackendPool {
    /// Least-outstanding choice among healthy backends, passive ejection, the pairs each backend has in
    /// flight, and the chunk size in use. Pure: time is passed in, nothing is locked or awaited here.
    ///
    /// Each attempt goes to the healthy backend, not yet tried for this chunk, whose outstanding pairs
    /// (counting this chunk) divided by its `weight` is smallest; ties go round-robin. The pick reserves the
    /// chunk's pairs on that backend until ``finished(_:pairs:)``, so concurrent chunks spread out.
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
        /// Relative capacity of each backend (policy `weight`), at least 1.
        let weights: [Int]
        /// Pairs picked for each backend and not yet finished (waiting for a slot or in flight).
        private(set) var outstanding: [Int]
        /// Calls picked for each backend and not yet finished.
        private(set) var calls: [Int]
        private var cursor = 0
        /// The most documents sent in one call: `maxBatch`, lowered to the smallest limit a backend published.
        private(set) var batchLimit: Int
        /// Backends whose per-call limit has been read, or that publish none.
        private(set) var limitKnown: Set<Int> = []
        /// Which background (job) chunks may go now; see ``BackendPool/BackgroundLane``.
        var lane: BackgroundLane<CheckedContinuation<Bool, Never>>

        /// Each backend's `max_concurrency` (empty: not known), so a refused backend's slots leave the lane's capacity.
        let concurrency: [Int]

        init(
            count: Int, ejectAfter: Int, ejectFor: Duration, maxBatch: Int = 64, weights: [Int] = [], capacity: Int = 64, backgroundShare: Double = 0.5,
            concurrency: [Int] = []
        ) {
            self.lane = BackgroundLane(capacity: capacity, share: backgroundShare)
            self.concurrency = concurrency.count == count ? concurrency : []
            precondition(count > 0, "a pool needs a backend")
            precondition(weights.isEmpty || weights.count == count, "one weight per backend")
            self.count = count
            self.weights = weights.isEmpty ? Array(repeating: 1, count: count) : weights.map { max(1, $0) }
            self.outstanding = Array(repeating: 0, count: count)
            self.calls = Array(repeating: 0, count: count)
            self.ejectAfter = max(1, ejectAfter)
            self.ejectFor = ejectFor
            self.health = Array(repeating: Health(), count: count)
            self.batchLimit = max(1, maxBatch)
        }

        /// Backends refused by the consistency guard (canary): never picked again, not even as a last resort.
        private(set) var refused: Set<Int> = []
        /// The canary score of the first backend that answered it; the others must agree within the tolerance.
        private(set) var canaryReference: Double?
        /// Backends whose canary could not be scored yet (down at start-up): left out like ejected ones until a
        /// health probe gets their canary scored.
        private(set) var canaryPending: Set<Int> = []

        func isHealthy(_ index: Int, now: Duration) -> Bool {
            guard !refused.contains(index), !canaryPending.contains(index) else { return false }
            guard let until = health[index].ejectedUntil else { return true }
            return now >= until
        }

        /// The backend for the next attempt at a chunk of `pairs`, skipping those in `tried`, and reserves the
        /// pairs on it; `nil` when there is none left to try.
        ///
        /// Among healthy untried backends the least loaded by `(outstanding + pairs) / weight` wins, ties
        /// round-robin. When no backend is healthy, only the first attempt gets one: the ejected backend due
        /// back soonest.
        mutating func pick(now: Duration, pairs: Int, excluding tried: Set<Int> = []) -> Int? {
            let start = cursor
            cursor = (cursor + 1) % count
            var best: Int?
            var anyHealthy = false
            for step in 0..<count {
                let index = (start + step) % count
                guard isHealthy(index, now: now) else { continue }
                anyHealthy = true
                guard !tried.contains(index) else { continue }
                if let current = best {
                    // (o_i + p) / w_i < (o_c + p) / w_c, without division.
                    if (outstanding[index] + pairs) * weights[current] < (outstanding[current] + pairs) * weights[index] { best = index }
                } else {
                    best = index
                }
            }
            if !anyHealthy, tried.isEmpty {
                best = health.indices.filter { !refused.contains($0) && !canaryPending.contains($0) }.min { (health[$0].ejectedUntil ?? .zero) < (health[$1].ejectedUntil ?? .zero) }
            }
            if let best {
                outstanding[best] += pairs
                calls[best] += 1
            }
            return best
        }

        /// Releases what ``pick(now:pairs:excluding:)`` reserved once the attempt is over, whatever its result.
        mutating func finished(_ index: Int, pairs: Int) {
            precondition(outstanding[index] >= pairs && calls[index] > 0, "finished more than was picked")
            outstanding[index] -= pairs
            calls[index] -= 1
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

        // MARK: - Consistency guard (canary)

        enum CanaryVerdict: Equatable {
            /// The first answer: it sets the reference.
            case reference
            case agrees
            /// Differs from the reference by `difference` (more than the tolerance): refused for good.
            case refused(reference: Double, difference: Double)
        }

        /// Records `index`'s canary score; the first one sets the reference, a later one further than
        /// `tolerance` from it refuses the backend permanently.
        mutating func canaryScored(_ index: Int, score: Double, tolerance: Double) -> CanaryVerdict {
            canaryPending.remove(index)
            guard let reference = canaryReference else {
                canaryReference = score
                return .reference
            }
            let difference = abs(score - reference)
            guard difference <= tolerance, score.isFinite else {
                refused.insert(index)
                if !concurrency.isEmpty {
                    lane.shrink(capacity: concurrency.indices.filter { !refused.contains($0) }.reduce(0) { $0 + concurrency[$1] })
                }
                return .refused(reference: reference, difference: difference)
            }
            return .agrees
        }

        /// Records that `index`'s canary could not be scored: it is left out until it is.
        mutating func canaryUnchecked(_ index: Int) {
            canaryPending.insert(index)
        }

        // MARK: - Admission (max_queue)

        /// Pairs inside ``BackendPool/score(query:documents:settings:logger:)`` calls now: waiting for a slot or in flight.
        private(set) var admitted = 0

        /// Admits a call of `pairs` when the pairs admitted stay within `limit` (in-flight capacity plus
        /// `max_queue`; `nil`: unbounded). An idle pool admits any call, so one large request is never refused forever.
        /// A call of no pairs (a background call, which waits in the background lane instead) is always admitted, even
        /// when a large admitted request holds the pool past the limit.
        mutating func admit(pairs: Int, limit: Int?) -> Bool {
            if let limit, pairs > 0, admitted > 0, admitted + pairs > limit { return false }
            admitted += pairs
            return true
        }

        /// Ends what ``admit(pairs:limit:)`` let in.
        mutating func left(pairs: Int) {
            precondition(admitted >= pairs, "left more than was admitted")
            admitted -= pairs
        }

        // MARK: - Batch limits

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
