import Foundation
import TestSupport
import Synchronization
import Testing

@testable import RerankCache
@testable import RerankCore

/// Prints (asserts nothing about time) the memory tier's hit latency with Redis answering normally and with
/// Redis stalled by `DEBUG SLEEP 0.05` in a loop from another connection, and the store-lookup latency then:
/// a slow Redis must not slow memory hits, and store lookups are bounded by the timeout.
@Suite(.enabled(if: sharedRedisURL != nil && redisServerPath != nil, "REDIS_URL is not set or redis-server is not installed"))
struct RedisLatencyMeasurement {
    @Test func memoryHitsDoNotWaitForASlowRedis() async throws {
        let server = try PrivateRedisServer(extraArguments: ["--enable-debug-command", "yes"])
        defer { server.stop() }
        let store = try RedisCacheStore(configuration: .init(url: server.url, timeout: .milliseconds(50), ttl: .seconds(60)), logger: testLogger)
        let cache = TieredCache(memory: MemoryTier(capacity: 10_000, ttlSeconds: 0), store: store, logger: testLogger)
        let hot = (0..<20).map { testKey($0) }
        cache.save(hot.map { ($0, 0.5) })
        try await store.flush()
        let cold = (1000..<1020).map { testKey($0) }

        func measure(_ keys: [CacheKey], rounds: Int) async -> (p50: Double, p99: Double) {
            let clock = ContinuousClock()
            var samples: [Double] = []
            for _ in 0..<rounds {
                let started = clock.now
                _ = await cache.lookup(keys)
                let elapsed = clock.now - started
                samples.append(Double(elapsed.components.attoseconds) / 1e12 + Double(elapsed.components.seconds) * 1e6)
            }
            samples.sort()
            return (samples[samples.count / 2], samples[min(samples.count - 1, samples.count * 99 / 100)])
        }

        let normalHits = await measure(hot, rounds: 2000)
        let normalMisses = await measure(cold, rounds: 200)
        // Stall Redis from another connection: DEBUG SLEEP 0.05 back to back.
        let stop = Atomic<Bool>(false)
        let url = server.url
        let staller = Thread {
            guard let handle = try? RedisConnectionHandle.connect(to: RedisEndpoint(url: url), timeout: .seconds(2)) else { return }
            while !stop.load(ordering: .relaxed) { _ = try? handle.pipeline([[Array("DEBUG".utf8), Array("SLEEP".utf8), Array("0.05".utf8)]]) }
            handle.close()
        }
        staller.start()
        try await Task.sleep(for: .milliseconds(20))
        let slowHits = await measure(hot, rounds: 2000)
        let slowMisses = await measure(cold, rounds: 50)
        stop.store(true, ordering: .relaxed)
        print(String(
            format: "redis latency (µs): memory hits normal p50 %.1f p99 %.1f | with DEBUG SLEEP 0.05 loop p50 %.1f p99 %.1f"
                + " || store lookups (20 keys) normal p50 %.1f p99 %.1f | stalled p50 %.1f p99 %.1f (timeout 50 ms)",
            normalHits.p50, normalHits.p99, slowHits.p50, slowHits.p99, normalMisses.p50, normalMisses.p99, slowMisses.p50, slowMisses.p99
        ))
        #expect(Bool(true))
    }
}
