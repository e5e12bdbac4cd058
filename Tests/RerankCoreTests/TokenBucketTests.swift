import Testing

@testable import RerankCore

@Suite struct TokenBucketTests {
    @Test func aFullBucketAdmitsItsBurstThenRefillsAtTheRate() {
        var bucket = TokenBucket(capacity: 3, perSecond: 2, now: .zero)
        for _ in 0..<3 { #expect(bucket.take(now: .zero) == .admitted) }
        #expect(bucket.take(now: .zero) == .limited(retryAfter: .milliseconds(500)))
        // Half a second later one token is back, and only one.
        #expect(bucket.take(now: .milliseconds(500)) == .admitted)
        #expect(bucket.take(now: .milliseconds(500)) == .limited(retryAfter: .milliseconds(500)))
        // It never fills beyond its capacity, however long it waits.
        for _ in 0..<3 { #expect(bucket.take(now: .seconds(100)) == .admitted) }
        #expect(bucket.take(now: .seconds(100)) != .admitted)
    }

    @Test func aSlowRateTellsHowLongToWait() {
        var bucket = TokenBucket(capacity: 1, perSecond: 1.0 / 60, now: .zero)
        #expect(bucket.take(now: .zero) == .admitted)
        #expect(bucket.take(now: .seconds(30)) == .limited(retryAfter: .seconds(30)))
    }
}
