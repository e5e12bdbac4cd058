import Testing

@testable import RerankCore

@Suite struct JobScheduleTests {
    static func failure(_ index: Int) -> JobFailure { JobFailure(index: index, status: 502, message: "down") }

    @Test func chunksTakeWholeRequestsUpToThePairBudget() {
        var schedule = JobSchedule(pairCounts: [3, 2, 4, 9, 1], done: [], chunkPairs: 5, retries: 0, backoff: .seconds(1))
        #expect(schedule.next() == .score([0, 1]))
        #expect(schedule.next() == .score([2]))
        #expect(schedule.next() == .score([3]))  // larger than the budget: alone
        #expect(schedule.next() == .score([4]))
        #expect(schedule.next() == .finish(.succeeded))
    }

    @Test func requestsAlreadyDoneAreNeverScheduledAgain() {
        var schedule = JobSchedule(pairCounts: [1, 1, 1, 1], done: [0, 2], chunkPairs: 10, retries: 0, backoff: .seconds(1))
        #expect(schedule.next() == .score([1, 3]))
        #expect(schedule.next() == .finish(.succeeded))
    }

    @Test func failedRequestsAreRetriedWithDoublingBackoffThenTheJobFails() {
        var schedule = JobSchedule(pairCounts: [1, 1, 1], done: [], chunkPairs: 10, retries: 2, backoff: .seconds(1))
        #expect(schedule.next() == .score([0, 1, 2]))
        schedule.scored(0)
        schedule.failed(1, Self.failure(1))
        schedule.failed(2, Self.failure(2))
        #expect(schedule.next() == .wait(.seconds(1)))
        #expect(schedule.next() == .score([1, 2]))
        schedule.scored(1)
        schedule.failed(2, Self.failure(2))
        #expect(schedule.next() == .wait(.seconds(2)))
        #expect(schedule.next() == .score([2]))
        schedule.failed(2, Self.failure(2))
        #expect(schedule.next() == .finish(.failed))
        #expect(Array(schedule.failures.keys) == [2])
        #expect(schedule.round == 2)
    }

    @Test func aRequestThatSucceedsOnRetryLeavesNoFailure() {
        var schedule = JobSchedule(pairCounts: [1], done: [], chunkPairs: 10, retries: 1, backoff: .milliseconds(10))
        _ = schedule.next()
        schedule.failed(0, Self.failure(0))
        #expect(schedule.next() == .wait(.milliseconds(10)))
        #expect(schedule.next() == .score([0]))
        schedule.scored(0)
        #expect(schedule.next() == .finish(.succeeded))
        #expect(schedule.failures.isEmpty)
    }

    @Test func aFailureThatIsNotRetryableFailsTheJobWithoutWaiting() {
        var schedule = JobSchedule(pairCounts: [1, 1], done: [], chunkPairs: 10, retries: 3, backoff: .seconds(1))
        _ = schedule.next()
        schedule.scored(0)
        schedule.failed(1, JobFailure(index: 1, status: 400, message: "refused"), retryable: false)
        #expect(schedule.next() == .finish(.failed))
    }

    @Test func aResumedJobKeepsItsBackoff() {
        var schedule = JobSchedule(pairCounts: [1], done: [], chunkPairs: 10, retries: 3, backoff: .seconds(1), round: 2)
        _ = schedule.next()
        schedule.failed(0, Self.failure(0))
        #expect(schedule.next() == .wait(.seconds(4)))
        #expect(schedule.round == 3)
    }
}
