import Foundation
import Testing

@testable import RerankProxyApp

@Suite struct PolicyConfigTests {
    func error(_ yaml: String) -> String? {
        do {
            _ = try PolicyConfig.parse(yaml, file: "p.yaml")
            return nil
        } catch {
            return error.description
        }
    }

    @Test func minimalPolicyGetsTheDocumentedDefaults() throws {
        let policy = try PolicyConfig.parse("models:\n  - name: m\n    backends:\n      - name: b\n        url: http://127.0.0.1:8000\n")
        #expect(policy.server.host == "127.0.0.1")
        #expect(policy.server.port == 8080)
        #expect(policy.server.maxBodyBytes == 8_388_608)
        #expect(policy.server.maxDocuments == 1000)
        #expect(policy.server.headerTimeout.duration == .seconds(10))
        #expect(policy.server.bodyTimeout.duration == .seconds(30))
        #expect(policy.server.idleTimeout.duration == .seconds(60))
        #expect(policy.server.maxConnections == 10_000)
        #expect(policy.server.maxBufferedBodyBytes == 256 << 20)
        #expect(policy.cache.memoryEntries == 1_000_000)
        #expect(policy.cache.store == .sqlite)
        #expect(policy.cache.ttl.seconds == 30 * 86400)
        #expect(policy.cache.sqlite.path == "data/scores.sqlite")
        #expect(policy.cache.sqlite.maxEntries == 50_000_000)
        #expect(policy.cache.sqlite.flushInterval.duration == .seconds(1))
        #expect(policy.models[0].backends[0].api == .cohere)
        #expect(policy.models[0].backends[0].maxBatch == 64)
        #expect(policy.models[0].backends[0].timeout.duration == .seconds(30))
        #expect(policy.models[0].backends[0].weight == 1)
        #expect(policy.models[0].backends[0].maxConcurrency == 64)
        #expect(policy.models[0].maxQueue == 20_000)
    }

    @Test func poolKeysAreReadAndShownInTheSummary() throws {
        let policy = try PolicyConfig.parse(
            """
            models:
              - name: m
                max_queue: 500
                backends:
                  - { name: gpu-a, api: vllm, url: "http://10.0.0.5:8000", weight: 4, max_batch: 256, max_concurrency: 8 }
                  - { name: gpu-b, api: vllm, url: "http://10.0.0.6:8000" }
            """
        )
        let model = policy.models[0]
        #expect(model.maxQueue == 500)
        #expect(model.backends[0].api == .vllm)
        #expect(model.backends[0].weight == 4)
        #expect(model.backends[0].maxConcurrency == 8)
        #expect(model.backends[1].weight == 1)
        #expect(policy.summary.contains("POST http://10.0.0.5:8000/score"))
        #expect(policy.summary.contains("weight=4  max_concurrency=8"))
        #expect(policy.summary.contains("max_queue=500"))
    }

    @Test func poolKeysAreValidated() {
        let head = "models:\n  - name: m\n"
        let backend = "    backends:\n      - name: b\n        url: http://127.0.0.1:8000\n"
        #expect(error(head + backend + "        weight: 0\n")?.contains("models[0].backends[0].weight") == true)
        #expect(error(head + backend + "        max_concurrency: 0\n")?.contains("models[0].backends[0].max_concurrency") == true)
        #expect(error(head + "    max_queue: -1\n" + backend)?.contains("models[0].max_queue") == true)
        #expect(error(head + backend + "        api: vllm\n") == nil)
        #expect(error(head + "    canary: { query: q, document: d, tolerance: -1 }\n" + backend)?.contains("models[0].canary.tolerance") == true)
        #expect(error(head + "    canary: { query: q }\n" + backend)?.contains("models[0].canary.document") == true)
        #expect(error(head + "    canary: { query: q, document: d, tolerence: 1 }\n" + backend) != nil)
        let policy = try? PolicyConfig.parse(head + "    canary: { query: q, document: d }\n" + backend)
        #expect(policy?.models[0].canary?.tolerance == 1e-3)
    }

    @Test(arguments: [("500us", Duration.microseconds(500)), ("1.5ms", .microseconds(1500)), ("250ms", Duration.milliseconds(250)), ("30s", .seconds(30)), ("1.5m", .seconds(90)), ("2h", .seconds(7200)), ("30d", .seconds(2_592_000)), ("0", .zero)])
    func durations(text: String, expected: Duration) throws {
        #expect(try DurationValue(parsing: text).duration == expected)
    }

    @Test func badDurationsAreRefused() {
        for text in ["", "10", "5 parsecs", "-1s", "s", "us", "1e300d"] {
            #expect(throws: ConfigError.self) { try DurationValue(parsing: text) }
        }
    }

    @Test func shippedPoliciesAreValid() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        for name in ["local.yaml", "vllm-pool.yaml"] {
            setenv("VLLM_API_KEY", "secret", 1)
            let policy = try PolicyConfig.load(file: root.appendingPathComponent("policies/\(name)").path)
            #expect(!policy.models.isEmpty)
            #expect(!policy.summary.contains("secret"))
        }
    }

    @Test func environmentVariablesAreExpanded() throws {
        setenv("RERANK_TEST_KEY", "k-123", 1)
        unsetenv("RERANK_TEST_UNSET")
        let yaml = """
            models:
              - name: m
                backends:
                  - { name: b, url: "http://h:1", api_key: "${RERANK_TEST_KEY}", path: "${RERANK_TEST_UNSET:-/rerank}" }
            """
        let policy = try PolicyConfig.parse(yaml)
        #expect(policy.models[0].backends[0].apiKey == "k-123")
        #expect(policy.models[0].backends[0].path == "/rerank")
        let missing = error(yaml.replacingOccurrences(of: "RERANK_TEST_KEY", with: "RERANK_TEST_UNSET"))
        #expect(missing?.contains("models[0].backends[0].api_key") == true)
        #expect(missing?.contains("RERANK_TEST_UNSET is not set") == true)
    }

    @Test func errorsNameTheFileTheKeyAndTheProblem() {
        let backend = "models:\n  - name: m\n    backends:\n      - name: b\n        url: http://h:1\n"
        #expect(error("models: []\n") == "p.yaml: models: at least one model is required")
        #expect(error("server:\n  port: 70000\n" + backend) == "p.yaml: server.port: must be between 0 and 65535")
        #expect(error("server:\n  port: eighty\n" + backend)?.hasPrefix("p.yaml: server.port: expected Int") == true)
        #expect(error("cache:\n  sotre: sqlite\n" + backend)?.hasPrefix("p.yaml: cache.sotre: unknown key") == true)
        #expect(error("cache:\n  store: mongo\n" + backend)?.hasPrefix("p.yaml: cache.store:") == true)
        #expect(error(backend + "        api: grpc\n")?.contains("models[0].backends[0].api: unknown api \"grpc\"") == true)
        #expect(error(backend + "        max_batch: 0\n") == "p.yaml: models[0].backends[0].max_batch: must be positive")
        #expect(error("cache:\n  sqlite: { flush_interval: 0 }\n" + backend) == "p.yaml: cache.sqlite.flush_interval: must be more than 0 and at most 60s")
        #expect(error(backend + "        timeout: soon\n")?.hasPrefix("p.yaml: models[0].backends[0].timeout:") == true)
        #expect(error(backend.replacingOccurrences(of: "http://h:1", with: "h:1"))?.contains("models[0].backends[0].url") == true)
        #expect(error("models:\n  - name: m\n") == "p.yaml: models[0].backends: model \"m\" needs at least one backend")
        #expect(error(backend + "      - name: b\n        url: http://h:2\n") == "p.yaml: models[0].backends[1].name: backend \"b\" is listed twice")
        #expect(error("models:\n  - backends: []\n")?.contains("models[0].name") == true)
        #expect(error("server: [1\n")?.hasPrefix("p.yaml:") == true)
    }

    /// The memory and SQLite tiers keep the TTL in whole seconds: `ttl: 500ms` was 0 there (never expire) while Redis
    /// expired the same scores after 500 ms. A TTL they cannot honour is refused.
    @Test func aCacheTTLThatIsNotWholeSecondsIsRefused() throws {
        let backend = "models:\n  - name: m\n    backends:\n      - name: b\n        url: http://h:1\n"
        for ttl in ["500ms", "1500ms", "250us"] {
            #expect(error("cache: { ttl: \(ttl) }\n" + backend) == "p.yaml: cache.ttl: must be 0 (no expiry) or a whole number of seconds, not \(ttl)")
            #expect(error("cache: { store: redis, ttl: \(ttl) }\n" + backend)?.hasPrefix("p.yaml: cache.ttl:") == true)
        }
        for ttl in ["0", "1s", "1.5m", "7d"] { #expect(error("cache: { ttl: \(ttl) }\n" + backend) == nil) }
    }

    @Test func aJobsTTLThatIsNotWholeSecondsIsRefused() throws {
        let backend = "models:\n  - name: m\n    backends:\n      - name: b\n        url: http://h:1\n"
        for ttl in ["500ms", "1500ms"] {
            #expect(error("jobs: { ttl: \(ttl) }\n" + backend) == "p.yaml: jobs.ttl: must be a whole number of seconds, not \(ttl)")
        }
        for ttl in ["1s", "90m", "7d"] { #expect(error("jobs: { ttl: \(ttl) }\n" + backend) == nil) }
    }

    @Test func redisSettingsAreReadAndChecked() throws {
        let backend = "models:\n  - name: m\n    backends:\n      - name: b\n        url: http://h:1\n"
        let yaml = """
            cache:
              store: redis
              ttl: 7d
              redis: { url: "redis://:pw@10.0.0.5:6380/2", prefix: "x:", pool_size: 4, timeout: 20ms, lease: 5s }
            """
        let cache = try PolicyConfig.parse(yaml + "\n" + backend).cache
        #expect(cache.store == .redis)
        #expect(cache.redis.url == "redis://:pw@10.0.0.5:6380/2")
        #expect(cache.redis.prefix == "x:")
        #expect(cache.redis.poolSize == 4)
        #expect(cache.redis.timeout.duration == .milliseconds(20))
        #expect(cache.redis.lease.duration == .seconds(5))
        #expect(try PolicyConfig.parse("cache: { store: redis }\n" + backend).cache.redis.url == "redis://127.0.0.1:6379/0")
        #expect(try PolicyConfig.parse("cache: { store: redis, redis: { url: \"unix:///run/redis.sock?db=3\" } }\n" + backend).cache.store == .redis)
        #expect(error("cache: { store: redis, redis: { url: \"http://h:1\" } }\n" + backend) == "p.yaml: cache.redis.url: scheme http is not redis or unix")
        #expect(error("cache: { store: redis, redis: { url: \"redis://h:1/x\" } }\n" + backend)?.hasPrefix("p.yaml: cache.redis.url:") == true)
        #expect(error("cache: { store: redis, redis: { pool_size: 0 } }\n" + backend) == "p.yaml: cache.redis.pool_size: must be 1 to 1024")
        #expect(error("cache: { store: redis, redis: { timeout: 0 } }\n" + backend) == "p.yaml: cache.redis.timeout: must be more than 0 and at most 10s")
        #expect(error("cache: { store: redis, redis: { lease: 0 } }\n" + backend) == "p.yaml: cache.redis.lease: must be at least 1ms")
        #expect(error("cache: { store: redis, redis: { pool: 3 } }\n" + backend)?.hasPrefix("p.yaml: cache.redis.pool: unknown key") == true)
    }

    @Test func serverLimitsAreReadAndChecked() throws {
        let backend = "models:\n  - name: m\n    backends:\n      - name: b\n        url: http://h:1\n"
        let yaml = """
            server:
              header_timeout: 5s
              body_timeout: 1m
              idle_timeout: 750ms
              max_connections: 2000
              max_buffered_body_bytes: 67108864
            """
        let server = try PolicyConfig.parse(yaml + "\n" + backend).server
        #expect(server.headerTimeout.duration == .seconds(5))
        #expect(server.bodyTimeout.duration == .seconds(60))
        #expect(server.idleTimeout.duration == .milliseconds(750))
        #expect(server.maxConnections == 2000)
        #expect(server.maxBufferedBodyBytes == 64 << 20)
        #expect(error("server: { header_timeout: 0 }\n" + backend) == "p.yaml: server.header_timeout: must be positive")
        #expect(error("server: { body_timeout: soon }\n" + backend)?.hasPrefix("p.yaml: server.body_timeout:") == true)
        #expect(error("server: { idle_timeout: 0 }\n" + backend) == "p.yaml: server.idle_timeout: must be positive")
        #expect(error("server: { max_connections: 0 }\n" + backend) == "p.yaml: server.max_connections: must be positive")
        #expect(
            error("server: { max_body_bytes: 2000, max_buffered_body_bytes: 1000 }\n" + backend)
                == "p.yaml: server.max_buffered_body_bytes: must be at least max_body_bytes (2000)"
        )
        #expect(error("server: { header_timout: 5s }\n" + backend)?.hasPrefix("p.yaml: server.header_timout: unknown key") == true)
    }

    @Test func maxConnectionsStaysWellBelowTheOpenFileLimit() {
        #expect(ServerLimits.maxConnections(configured: 10_000, fileLimit: nil) == 10_000)
        #expect(ServerLimits.maxConnections(configured: 10_000, fileLimit: .init(soft: 1_048_576, hard: 1_048_576)) == 10_000)
        #expect(ServerLimits.maxConnections(configured: 10_000, fileLimit: .init(soft: 1024, hard: 4096)) == 768)
        #expect(ServerLimits.maxConnections(configured: 4, fileLimit: .init(soft: 1024, hard: 4096)) == 4)
    }

    @Test func unreadableFile() {
        #expect(throws: ConfigError.self) { try PolicyConfig.load(file: "/nonexistent/policy.yaml") }
    }
}
