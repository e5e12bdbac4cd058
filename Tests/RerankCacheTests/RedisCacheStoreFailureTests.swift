import Foundation
import TestSupport
import InMemoryLogging
import Logging
import Testing

@testable import RerankCache
@testable import RerankCore

/// Redis is never a single point of failure: stopped, it gives fast misses and a degraded health, logged once;
/// restarted, hits resume on the same store. Each test stops a redis-server of its own.
@Suite(.enabled(if: sharedRedisURL != nil && redisServerPath != nil, "REDIS_URL is not set or redis-server is not installed"))
struct RedisCacheStoreFailureTests {
    @Test func aStoppedRedisGivesFastMissesThenHitsResumeWithoutANewStore() async throws {
        let server = try PrivateRedisServer()
        defer { server.stop() }
        let logs = InMemoryLogHandler()
        let logger = Logger(label: "redis-failure") { _ in logs }
        let timeout = Duration.milliseconds(50)
        // The reconnect backoff runs on this clock: the test moves it past the backoff instead of sleeping.
        let backoff = ManualClock()
        let store = try RedisCacheStore(
            configuration: .init(url: server.url, timeout: timeout, ttl: .seconds(60)), logger: logger, time: TimeSource(backoff)
        )
        let keys = (0..<20).map { testKey($0) }
        store.save(keys.map { ($0, CachedScore(score: 1, storedAt: 1)) })
        try await store.flush()
        #expect(try await store.lookup(keys).allSatisfy { $0?.score == 1 })
        #expect(store.health == .ok)

        server.stop()
        let clock = ContinuousClock()
        for _ in 0..<10 {
            let started = clock.now
            let found = try await store.lookup(keys)
            #expect(found.allSatisfy { $0 == nil })
            #expect(clock.now - started < timeout + .milliseconds(500))
        }
        guard case .degraded(let reason) = store.health else { Issue.record("health is \(store.health)"); return }
        #expect(reason.hasPrefix("redis unreachable"))
        #expect(store.errorCount >= 10)
        // Saves stay queued meanwhile (and are visible), flushes fail without losing them.
        store.save([(testKey(100), CachedScore(score: 2, storedAt: 1))])
        await #expect(throws: CacheError.self) { try await store.flush() }
        #expect(try await store.lookup([testKey(100)])[0]?.score == 2)

        try server.start()
        // A fresh Redis is empty (no persistence); the queued score is written on the first flush once the backoff
        // lets the pool try to reconnect.
        backoff.advance(by: .seconds(3))
        try await store.flush()
        #expect(store.pendingCount == 0)
        #expect(store.health == .ok)
        let reader = try RedisCacheStore(configuration: .init(url: server.url, ttl: .seconds(60)), logger: testLogger)
        #expect(try await reader.lookup([testKey(100)])[0]?.score == 2)
        store.save(keys.map { ($0, CachedScore(score: 3, storedAt: 1)) })
        try await store.flush()
        #expect(try await store.lookup(keys).allSatisfy { $0?.score == 3 })

        let warnings = logs.entries.filter { $0.level == .warning && $0.message.description.hasPrefix("redis unreachable") }
        let recoveries = logs.entries.filter { $0.level == .info && $0.message.description == "redis reachable again" }
        #expect(warnings.count == 1)
        #expect(recoveries.count == 1)
    }

    @Test func aRedisThatNeverAnsweredIsDegradedNotAnError() async throws {
        // A closed port: nothing listens there.
        let store = try RedisCacheStore(configuration: .init(url: "redis://127.0.0.1:1/0", timeout: .milliseconds(50)), logger: testLogger)
        #expect(try await store.lookup([testKey(1), testKey(2)]) == [nil, nil])
        guard case .degraded(let reason) = store.health else { Issue.record("health is \(store.health)"); return }
        #expect(reason.contains("redis unreachable"))
        let leases = store.leases
        #expect(await leases.acquire([testKey(1)]) == [true])
        #expect(await leases.wait(for: [testKey(1)], until: .now + .seconds(1)) == [nil])
        await leases.release([testKey(1)])
    }
}
