import Foundation
import Logging
import RerankCache
import RerankCore
import Testing

@testable import RerankBackends
@testable import RerankProxyApp

/// Replicas sharing a store and its leases score each pair once between them (the pipeline's side of
/// cross-replica coalescing; the Redis leases themselves are tested against a real Redis).
@Suite(.serialized) struct CrossReplicaTests {
    func replica(_ name: String, url: String, table: FakePairLeases.Table) -> (RerankPipeline, ProxyStats) {
        let stats = ProxyStats(storeName: "shared", backends: [("test-model", "fake-0")])
        let client = HTTPBackendClient(configuration: .init(name: "fake-0", api: .cohere, url: url, model: "test-model"), httpClient: .shared)
        let pool = BackendPool(model: "test-model", backends: [client], configuration: .init(maxBatch: 8), observer: stats)
        let pipeline = RerankPipeline(
            models: [ModelRuntime(name: "test-model", revision: "", api: .cohere, pool: pool)],
            cache: TieredCache(memory: MemoryTier(capacity: 1000, ttlSeconds: 0), store: table.store, logger: quietLogger),
            stats: stats,
            leases: FakePairLeases(owner: name, table: table)
        )
        return (pipeline, stats)
    }

    @Test func concurrentColdRequestsOverTwoReplicasScoreEachPairOnce() async throws {
        let fake = FakeRerankBackend()
        fake.delay(.milliseconds(150))
        try await fake.run { url in
            let table = FakePairLeases.Table(store: FakeSharedStore(), lease: .seconds(10))
            let replicas = [replica("a", url: url, table: table), replica("b", url: url, table: table)]
            let docs = documents(12)
            let request = RerankRequest(dialect: .documents, model: nil, query: "shared", texts: docs)
            let results = try await withThrowingTaskGroup(of: [Double].self) { group in
                for n in 0..<20 {
                    let (pipeline, _) = replicas[n % 2]
                    group.addTask { try await pipeline.rerank(request, logger: quietLogger).scores }
                }
                var all: [[Double]] = []
                for try await scores in group { all.append(scores) }
                return all
            }
            let exact = docs.map { FakeRerankBackend.score(query: "shared", document: $0).bitPattern }
            for scores in results { #expect(scores.map(\.bitPattern) == exact) }
            #expect(fake.pairs == docs.count)
            // The replica that waited on the other's leases counts those pairs as coalesced.
            let coalesced = replicas.map { $0.1.snapshot().pairs.coalesced }
            #expect(coalesced.reduce(0, +) == 20 * docs.count - docs.count)
        }
    }

    @Test func aReplicaTakesOverWhenTheLeaseOwnerDies() async throws {
        let fake = FakeRerankBackend()
        try await fake.run { url in
            let table = FakePairLeases.Table(store: FakeSharedStore(), lease: .milliseconds(300))
            let encoder = CacheKeyEncoder(model: "test-model", revision: "", settings: .init(), query: "q")
            // A replica that took the lease of "a" and died before scoring it.
            #expect(await FakePairLeases(owner: "ghost", table: table).acquire([encoder.key(document: "a")]) == [true])
            let (pipeline, _) = replica("b", url: url, table: table)
            let result = try await pipeline.rerank(RerankRequest(dialect: .documents, model: nil, query: "q", texts: ["a", "b"]), logger: quietLogger)
            #expect(result.scores.map(\.bitPattern) == ["a", "b"].map { FakeRerankBackend.score(query: "q", document: $0).bitPattern })
            // "b" went out at once, "a" once its lease expired: two calls, each pair once.
            #expect(fake.pairs == 2)
            #expect(fake.calls == 2)
        }
    }

    @Test func twoReplicasHoldingLeasesTheOtherWaitsOnDoNotBlockEachOther() async throws {
        let fake = FakeRerankBackend()
        fake.delay(.milliseconds(100))
        try await fake.run { url in
            let table = FakePairLeases.Table(store: FakeSharedStore(), lease: .seconds(20))
            let (a, _) = replica("a", url: url, table: table)
            let (b, _) = replica("b", url: url, table: table)
            let encoder = CacheKeyEncoder(model: "test-model", revision: "", settings: .init(), query: "q")
            // b has taken the lease of "y" (its request is on its way): a gets "x" and waits on "y", b waits on "x".
            #expect(await FakePairLeases(owner: "b", table: table).acquire([encoder.key(document: "y")]) == [true])
            let start = ContinuousClock.now
            async let fromA = a.rerank(RerankRequest(dialect: .documents, model: nil, query: "q", texts: ["x", "y"]), logger: quietLogger)
            try await until { fake.calls >= 1 }
            async let fromB = b.rerank(RerankRequest(dialect: .documents, model: nil, query: "q", texts: ["y", "x"]), logger: quietLogger)
            let (resultA, resultB) = try await (fromA, fromB)
            #expect(resultA.scores.map(\.bitPattern) == ["x", "y"].map { FakeRerankBackend.score(query: "q", document: $0).bitPattern })
            #expect(resultB.scores.map(\.bitPattern) == ["y", "x"].map { FakeRerankBackend.score(query: "q", document: $0).bitPattern })
            // Each replica handed its lease back as soon as its own pair was scored: no wait for the 20 s expiry.
            #expect(ContinuousClock.now - start < .seconds(5))
            #expect(fake.pairs == 2)
        }
    }
}
