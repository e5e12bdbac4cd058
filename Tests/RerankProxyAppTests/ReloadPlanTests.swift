@testable import RerankProxyApp
import Testing

/// What a reload would change, and which changes need a restart: pure decisions over two policies.
@Suite struct ReloadPlanTests {
    func policy(_ models: [(String, String)]) -> PolicyConfig {
        PolicyConfig(models: models.map { ModelConfig(name: $0.0, backends: [BackendConfig(name: "b", url: $0.1)]) })
    }

    @Test func modelsAreAddedRemovedChangedOrKept() {
        let running = policy([("keep", "http://a"), ("move", "http://a"), ("drop", "http://a")])
        var next = policy([("move", "http://b"), ("keep", "http://a"), ("new", "http://a")])
        let plan = ReloadPlan(running: running, next: next, connectionsPerBackend: 64)
        #expect(plan.added == ["new"])
        #expect(plan.removed == ["drop"])
        #expect(plan.changed == ["move"])
        #expect(plan.unchanged == ["keep"])
        #expect(!plan.authChanged)
        #expect(plan.needsRestart.isEmpty)

        // Any model setting counts, not only backends.
        next = running
        next.models[0].revision = "v2"
        next.models[1].canary = CanaryConfig(query: "q", document: "d")
        next.models[2].backends[0].weight = 3
        #expect(ReloadPlan(running: running, next: next, connectionsPerBackend: 64).changed == ["keep", "move", "drop"])
        #expect(ReloadPlan(running: running, next: running, connectionsPerBackend: 64).unchanged == ["keep", "move", "drop"])
    }

    @Test func keysAreReloaded() throws {
        let running = policy([("m", "http://a")])
        var next = running
        next.auth.keys = [.init(name: "app", key: "sk-app-0123456789", rate: try RateValue(parsing: "5/s"))]
        #expect(ReloadPlan(running: running, next: next, connectionsPerBackend: 64).authChanged)
        #expect(ReloadPlan(running: running, next: next, connectionsPerBackend: 64).needsRestart.isEmpty)
    }

    @Test func serverAndCacheSettingsNeedARestartAndAreNamed() throws {
        let running = policy([("m", "http://a")])
        var next = running
        next.server.port = 9000
        next.server.idleTimeout = DurationValue(.seconds(5), text: "5s")
        next.cache.memoryEntries = 5
        next.cache.sqlite.flushInterval = DurationValue(.seconds(2), text: "2s")
        next.cache.redis.url = "redis://:secret@10.0.0.1:6379/0"
        let plan = ReloadPlan(running: running, next: next, connectionsPerBackend: 64)
        #expect(plan.needsRestart == ["server.port", "server.idle_timeout", "cache.memory_entries", "cache.sqlite.flush_interval", "cache.redis.url"])
        // Names only: a Redis URL's password never reaches a log or a reply.
        #expect(!plan.needsRestart.joined().contains("secret"))

        // The same duration spelled another way is no change.
        var same = running
        same.cache.sqlite.flushInterval = try DurationValue(parsing: "1000ms")
        #expect(ReloadPlan(running: running, next: same, connectionsPerBackend: 64).needsRestart.isEmpty)
    }

    @Test func moreConcurrencyThanTheHTTPClientWasSizedForNeedsARestart() {
        let running = policy([("m", "http://a")])
        var next = running
        next.models[0].backends[0].maxConcurrency = 65
        let plan = ReloadPlan(running: running, next: next, connectionsPerBackend: 64)
        #expect(plan.needsRestart == ["models[0].backends[0].max_concurrency (above 64, the most set at start)"])
        next.models[0].backends[0].maxConcurrency = 64
        #expect(ReloadPlan(running: running, next: next, connectionsPerBackend: 64).needsRestart.isEmpty)
    }
}
