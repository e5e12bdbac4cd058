import Testing

@testable import RerankProxyApp

/// The per-connection deadline state machine, without sockets or time.
@Suite struct RequestDeadlinesTests {
    @Test func oneRequestThenIdle() {
        var deadlines = RequestDeadlines()
        #expect(deadlines.connectionOpened() == .arm(.header))
        #expect(deadlines.bytesReceived() == .none)
        #expect(deadlines.requestHead() == .arm(.body))
        #expect(deadlines.requestEnd() == .disarm)
        #expect(deadlines.phase == .answering)
        #expect(deadlines.responseEnd(closeConnection: false) == .disarm)
        #expect(deadlines.phase == .idle)
        // The first byte of the next request starts its header timer.
        #expect(deadlines.bytesReceived() == .arm(.header))
        #expect(deadlines.bytesReceived() == .none)
        #expect(deadlines.requestHead() == .arm(.body))
    }

    @Test func bytesWhileAnsweringStartTheHeaderTimerWhenTheAnswerEnds() {
        var deadlines = RequestDeadlines()
        _ = deadlines.requestHead()
        _ = deadlines.requestEnd()
        // A slow backend must not close a connection whose client already started its next request.
        #expect(deadlines.bytesReceived() == .none)
        #expect(deadlines.responseEnd(closeConnection: false) == .arm(.header))
        #expect(deadlines.phase == .head)
    }

    @Test func pipelinedRequestsAreAnsweredBeforeIdle() {
        var deadlines = RequestDeadlines()
        _ = deadlines.requestHead()
        _ = deadlines.requestEnd()
        #expect(deadlines.requestHead() == .arm(.body))
        #expect(deadlines.requestEnd() == .disarm)
        #expect(deadlines.unanswered == 2)
        #expect(deadlines.responseEnd(closeConnection: false) == .none)
        #expect(deadlines.responseEnd(closeConnection: false) == .disarm)
        #expect(deadlines.phase == .idle)
    }

    @Test func anAnswerWithConnectionCloseEndsTheConnectionEvenMidBody() {
        var deadlines = RequestDeadlines()
        _ = deadlines.requestHead()
        #expect(deadlines.responseEnd(closeConnection: true) == .closeOutputThenLinger)
        #expect(!deadlines.forwardsRequestParts)
        // The rest of the body is dropped without touching the state.
        #expect(deadlines.requestEnd() == .none)
        #expect(deadlines.requestHead() == .none)
        #expect(deadlines.bytesReceived() == .none)
    }

    @Test func anAnswerWrittenBeforeTheBodyEndsLeavesTheBodyTimerUntilTheEnd() {
        var deadlines = RequestDeadlines()
        _ = deadlines.requestHead()
        // e.g. a 404 for a POST: Hummingbird drains the body after answering.
        #expect(deadlines.responseEnd(closeConnection: false) == .none)
        #expect(deadlines.phase == .body)
        #expect(deadlines.requestEnd() == .disarm)
        #expect(deadlines.phase == .idle)
    }
}
