/// Cross-request batching (`batch_window`): which misses of one model share a backend call, and when the call
/// goes out. Pure: time and the number of healthy backends are passed in, nothing is locked or awaited here.
///
/// Entries (one request's misses, at most `maxBatch` pairs) of the same `Group` are packed into one batch; a
/// batch is **dispatched** (handed to the pool, which picks a backend and waits for one of its slots):
/// - when it is **full**: `maxBatch` pairs, or the next entry of its group would not fit;
/// - when its **window** has passed: `window` after its first entry arrived (``expire(now:healthy:)``);
/// - at once when a backend is **idle**: fewer batches are dispatched and unfinished than there are healthy
///   backends, so least-outstanding balancing has a backend with nothing to do and waiting would only add latency.
///   Checked on every arrival and whenever a batch finishes (``finished(_:healthy:)``), oldest batch first.
///
/// While no backend is idle, a dispatched batch still waiting for a backend slot keeps taking entries of its
/// group up to `maxBatch` (they would wait for that slot anyway): it is **sealed** (``seal(_:)``) when the slot is granted and
/// the call is built. So under load, calls fill up from the queue in front of the backends, and the window
/// only bounds the wait of a batch that nothing else holds up.
///
/// ```swift
/// var batches = BatchAssembler<String>(window: .milliseconds(2), maxBatch: 256)
/// let plan = batches.enqueue(id: 7, group: "settings", pairs: 3, now: now, healthy: 2)
/// // plan.dispatched: send these; plan.joined: entry 7 rode along in a batch that is still waiting for a slot
/// ```
public struct BatchAssembler<Group: Hashable & Sendable>: Sendable {
    public struct Batch: Sendable, Equatable {
        public var id: Int
        public var group: Group
        /// Entry ids in arrival order.
        public var entries: [Int]
        public var pairs: Int
    }

    /// What an arrival changed.
    public struct Plan: Sendable, Equatable {
        /// Batches to send now.
        public var dispatched: [Batch] = []
        /// The dispatched, unsealed batch the entry joined; `nil` when it went into an open batch or a new one.
        public var joined: Int?
        /// When the batch the entry opened ends its window, if it is still open: call ``expire(now:healthy:)`` then.
        public var expires: Duration?
    }

    public let window: Duration
    public let maxBatch: Int
    /// Batches collecting entries, oldest first; at most one per group.
    private(set) var open: [(batch: Batch, opened: Duration)] = []
    /// Dispatched batches not yet sealed (waiting for a backend slot), which entries of their group may still join.
    private(set) var unsealed: [Int: Batch] = [:]
    /// Batches dispatched and not yet finished (unsealed ones included).
    public private(set) var running = 0
    private var nextID = 0

    public init(window: Duration, maxBatch: Int) {
        self.window = window
        self.maxBatch = max(1, maxBatch)
    }

    /// Batches open (waiting for their window) or dispatched and unfinished: the interactive demand batching holds.
    public var outstanding: Int { open.count + running }

    /// Pairs waiting in open batches (not yet dispatched).
    public var pendingPairs: Int { open.reduce(0) { $0 + $1.batch.pairs } }

    /// Adds an entry of `pairs` (at most `maxBatch`) arriving at `now`.
    public mutating func enqueue(id: Int, group: Group, pairs: Int, now: Duration, healthy: Int) -> Plan {
        var plan = Plan()
        // Riding along in a batch that waits for a slot costs no extra wait; with a backend idle, a call of its own is sooner.
        if running >= healthy, let joined = unsealed.values.filter({ $0.group == group && $0.pairs + pairs <= maxBatch }).min(by: { $0.id < $1.id }) {
            unsealed[joined.id]?.entries.append(id)
            unsealed[joined.id]?.pairs += pairs
            plan.joined = joined.id
            return plan
        }
        if let index = open.firstIndex(where: { $0.batch.group == group }) {
            if open[index].batch.pairs + pairs > maxBatch {
                plan.dispatched.append(dispatch(at: index))
            } else {
                open[index].batch.entries.append(id)
                open[index].batch.pairs += pairs
                if open[index].batch.pairs >= maxBatch { plan.dispatched.append(dispatch(at: index)) }
                plan.dispatched += flushIdle(healthy: healthy)
                return plan
            }
        }
        defer { nextID += 1 }
        open.append((Batch(id: nextID, group: group, entries: [id], pairs: pairs), now))
        if pairs >= maxBatch { plan.dispatched.append(dispatch(at: open.count - 1)) }
        plan.dispatched += flushIdle(healthy: healthy)
        if open.last?.batch.entries == [id] { plan.expires = now + window }
        return plan
    }

    /// Dispatches every open batch whose window has passed, then any the idle backends can take.
    public mutating func expire(now: Duration, healthy: Int) -> [Batch] {
        var out: [Batch] = []
        while let index = open.firstIndex(where: { $0.opened + window <= now }) { out.append(dispatch(at: index)) }
        return out + flushIdle(healthy: healthy)
    }

    /// The batch got its backend slot: no entry joins it any more. Returns its final entries.
    public mutating func seal(_ id: Int) -> Batch? {
        unsealed.removeValue(forKey: id)
    }

    /// The batch's call (with its retries) is over; an idle backend may take the oldest open batch now.
    public mutating func finished(_ id: Int, healthy: Int) -> [Batch] {
        precondition(running > 0, "finished more batches than were dispatched")
        unsealed.removeValue(forKey: id)
        running -= 1
        return flushIdle(healthy: healthy)
    }

    private mutating func dispatch(at index: Int) -> Batch {
        let batch = open.remove(at: index).batch
        unsealed[batch.id] = batch
        running += 1
        return batch
    }

    private mutating func flushIdle(healthy: Int) -> [Batch] {
        var out: [Batch] = []
        while running < healthy, !open.isEmpty { out.append(dispatch(at: 0)) }
        return out
    }
}
