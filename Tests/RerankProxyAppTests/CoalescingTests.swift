import AsyncHTTPClient
import Foundation
import RerankProxyApp
import Testing

/// Concurrent misses of the same pairs are scored once.
@Suite(.serialized) struct CoalescingTests {
    @Test func twentyFourConcurrentColdRequestsForwardEachPairOnce() async throws {
        let fake = FakeRerankBackend()
        fake.delay(.milliseconds(400))
        try await fake.run { url in
            try await withProxy(testPolicy(backends: [BackendConfig(name: "fake-0", url: url)])) { proxy in
                let docs = documents(16)
                let body = jsonText(["query": "coalesce me", "documents": docs])
                let replies = try await withThrowingTaskGroup(of: ProxyClient.Reply.self) { group in
                    for _ in 0..<24 { group.addTask { try await proxy.post("/v1/rerank", body) } }
                    var replies: [ProxyClient.Reply] = []
                    for try await reply in group { replies.append(reply) }
                    return replies
                }
                #expect(replies.count == 24)
                for reply in replies { expectExact(reply, query: "coalesce me", documents: docs) }
                #expect(fake.pairs == 16)
                let counted = pairs(try await proxy.stats())
                #expect(counted["forwarded"] == 16)
                #expect(counted["total"] == 24 * 16)
                #expect(counted["failed"] == 0)
                #expect(counted["coalesced"]! + counted["hits"]! == 23 * 16)
            }
        }
    }

    @Test func aDisconnectingLeaderDoesNotFailTheOthers() async throws {
        let fake = FakeRerankBackend()
        fake.delay(.milliseconds(900))
        try await fake.run { url in
            try await withProxy(testPolicy(backends: [BackendConfig(name: "fake-0", url: url)])) { proxy in
                let docs = documents(6)
                let body = jsonText(["query": "leader leaves", "documents": docs])
                // The leader's client gives up (closes its connection) long before the backend answers.
                let leader = Task { try await proxy.post("/v1/rerank", body, timeout: .milliseconds(300)) }
                try await Task.sleep(for: .milliseconds(150))
                let follower = try await proxy.post("/v1/rerank", body)
                await #expect(throws: (any Error).self) { try await leader.value }
                expectExact(follower, query: "leader leaves", documents: docs)
                #expect(fake.pairs == 6)
                // And the leader's scores were cached even though its client left.
                expectExact(try await proxy.post("/v1/rerank", body), query: "leader leaves", documents: docs)
                #expect(fake.pairs == 6)
            }
        }
    }
}
