import RerankClient
import Testing

@Suite struct RetryPolicyTests {
    let policy = RetryPolicy(maxAttempts: 5, base: .milliseconds(500), cap: .seconds(3))

    @Test func clientErrorsAndSuccessAreFinal() {
        for status in [200, 202, 400, 401, 403, 404, 413, 500] {
            #expect(policy.delay(after: .status(status, retryAfter: "1"), attempt: 1) == nil, "\(status)")
        }
    }

    @Test func overloadAndConnectionErrorsBackOffExponentiallyToTheCap() {
        let delays = (1...4).map { policy.delay(after: .status(503, retryAfter: nil), attempt: $0) }
        #expect(delays == [.milliseconds(500), .seconds(1), .seconds(2), .seconds(3)])
        #expect(policy.delay(after: .connectionError, attempt: 2) == .seconds(1))
        #expect(policy.delay(after: .status(502, retryAfter: nil), attempt: 1) == .milliseconds(500))
    }

    @Test func retryAfterIsHonoured() {
        #expect(policy.delay(after: .status(429, retryAfter: "2"), attempt: 1) == .seconds(2))
        #expect(policy.delay(after: .status(429, retryAfter: " 0.25 "), attempt: 3) == .milliseconds(250))
        // Not a number of seconds: the backoff applies.
        #expect(policy.delay(after: .status(429, retryAfter: "soon"), attempt: 1) == .milliseconds(500))
    }

    @Test func attemptsRunOut() {
        #expect(policy.delay(after: .status(503, retryAfter: "1"), attempt: 5) == nil)
        #expect(policy.delay(after: .connectionError, attempt: 5) == nil)
    }
}
