/// What a job does next, without IO: which requests to score in the next chunk, when to retry the failed ones
/// (with backoff) and how the job ends.
///
/// ```swift
/// var schedule = JobSchedule(pairCounts: [3, 2, 4], done: [], chunkPairs: 4, retries: 2, backoff: .seconds(1))
/// schedule.next()          // .score([0, 1])  (3 + 2 pairs: a chunk takes requests until it reaches 4)
/// schedule.scored(0); schedule.failed(1, JobFailure(…))
/// schedule.next()          // .score([2])
/// schedule.next()          // .wait(.seconds(1)), then .score([1]) again, …, then .finish(.succeeded | .failed)
/// ```
/// A request is scored whole in one chunk. Requests that fail are tried again after each pass, up to `retries`
/// more rounds, waiting `backoff`, then twice that, and so on; after the last round the job fails and its
/// ``failures`` say which requests and why. A request already done (results saved before a restart) is never
/// scheduled again.
public struct JobSchedule: Sendable {
    public enum Action: Sendable, Equatable {
        /// Score these requests (input positions, ascending) together.
        case score([Int])
        /// Wait this long, then call ``JobSchedule/next()`` again (a retry round starts).
        case wait(Duration)
        case finish(JobStatus)
    }

    private let pairCounts: [Int]
    private let chunkPairs: Int
    private let retries: Int
    private let backoff: Duration
    private var pending: [Int]
    private var cursor = 0
    private var failedThisRound: [Int] = []
    /// Retry rounds started so far.
    public private(set) var round: Int
    /// The failed requests' last reasons, by position; a request that succeeds on a retry is removed.
    public private(set) var failures: [Int: JobFailure] = [:]
    private var waitingToRetry = false

    /// - Parameters:
    ///   - pairCounts: each request's document count.
    ///   - done: requests already finished (their results are stored).
    ///   - round: retry rounds already spent (a resumed job keeps its backoff).
    public init(pairCounts: [Int], done: Set<Int>, chunkPairs: Int, retries: Int, backoff: Duration, round: Int = 0) {
        self.pairCounts = pairCounts
        self.chunkPairs = max(1, chunkPairs)
        self.retries = max(0, retries)
        self.backoff = backoff
        self.round = round
        self.pending = pairCounts.indices.filter { !done.contains($0) }
    }

    public mutating func next() -> Action {
        if waitingToRetry {
            waitingToRetry = false
            pending = failedThisRound.sorted()
            cursor = 0
            failedThisRound = []
        }
        if cursor < pending.count {
            var chunk: [Int] = []
            var pairs = 0
            while cursor < pending.count, chunk.isEmpty || pairs + pairCounts[pending[cursor]] <= chunkPairs {
                pairs += pairCounts[pending[cursor]]
                chunk.append(pending[cursor])
                cursor += 1
            }
            return .score(chunk)
        }
        guard !failedThisRound.isEmpty else { return .finish(failures.isEmpty ? .succeeded : .failed) }
        guard round < retries else { return .finish(.failed) }
        round += 1
        waitingToRetry = true
        return .wait(backoff * (1 << min(round - 1, 20)))
    }

    /// Request `index` was scored and its result saved.
    public mutating func scored(_ index: Int) {
        failures[index] = nil
    }

    /// Request `index` failed; it is tried again in the next retry round, if any is left.
    /// - Parameter retryable: `false` for a failure that belongs to the input (a refused document): not retried.
    public mutating func failed(_ index: Int, _ failure: JobFailure, retryable: Bool = true) {
        failures[index] = failure
        if retryable { failedThisRound.append(index) }
    }
}
