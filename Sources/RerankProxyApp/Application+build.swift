import AsyncHTTPClient
import Hummingbird
import Logging
import NIOCore
import Prometheus
import RerankBackends
import RerankCache
import RerankCore
import ServiceLifecycle

/// Run-time choices that are not part of the policy file.
public struct AppOptions: Sendable {
    public var host: String?
    public var port: Int?
    public var logger: Logger
    /// Serves `/metrics` from this registry when set (the one `MetricsSystem` was bootstrapped with).
    public var registry: PrometheusCollectorRegistry?
    /// Called once the server listens, with its channel (tests read the bound port here).
    public var onServerRunning: @Sendable (any Channel) async -> Void
    /// The file the policy was read from: `POST /admin/reload` re-reads it (`nil`: nothing to reload).
    public var policyFile: String?
    /// SHA-256 (hex) of the policy file's bytes, shown in `/v1/stats` (``PolicyConfig/loadHashed(file:)``).
    public var policySHA256: String?
    /// Whether `SIGHUP` reloads ``policyFile`` (the `serve` command; never in-process tests, which share one process).
    public var reloadOnHangup: Bool
    /// The clock of the timer loop (cache flushes and sweeps, health probes, generation refreshes, job rescans):
    /// tests pass a manual clock and advance it instead of sleeping. Request and backend deadlines keep real time.
    public var timers: TimeSource

    public init(
        host: String? = nil,
        port: Int? = nil,
        logger: Logger = Logger(label: "rerank-proxy"),
        registry: PrometheusCollectorRegistry? = nil,
        policyFile: String? = nil,
        policySHA256: String? = nil,
        reloadOnHangup: Bool = false,
        timers: TimeSource = .continuous,
        onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }
    ) {
        self.host = host
        self.port = port
        self.logger = logger
        self.registry = registry
        self.policyFile = policyFile
        self.policySHA256 = policySHA256
        self.reloadOnHangup = reloadOnHangup
        self.timers = timers
        self.onServerRunning = onServerRunning
    }
}

/// The composition root: cache tiers, backend pools, the pipeline, routes and services, from a policy.
///
/// ```swift
/// let app = try buildApplication(policy: try PolicyConfig.load(file: "policies/local.yaml"), options: .init())
/// try await app.runService()
/// ```
/// Services start in the order HTTP client, SIGHUP reloader (when ``AppOptions/reloadOnHangup``), timer loop
/// (``TimerLoop``: cache writers, health probes, generation refreshes, job rescans), job runner, server, and stop
/// in reverse, so on SIGTERM the server finishes its in-flight requests and the runner its chunk before the last
/// cache writes are flushed and the store closed, and no probe runs on a closed HTTP client.
public func buildApplication(policy: PolicyConfig, options: AppOptions = .init()) throws -> some ApplicationProtocol {
    let logger = options.logger
    let ttl = policy.cache.ttl.seconds

    var services: [any Service] = []
    // Everything periodic (cache flushes and sweeps, health probes, generation refreshes, job rescans) runs on one
    // timer loop, registered after the HTTP client and before the server (see the shutdown order above).
    var periodic: [any PeriodicWork] = []
    let stats = ProxyStats(
        storeName: policy.cache.store.rawValue,
        backends: policy.models.flatMap { model in model.backends.map { (model.name, $0.name) } }
    )
    // A cache is only a cache: an unusable file is moved aside, and if no file can be used the proxy runs
    // without the store and says so in /readyz and /v1/stats.
    var store: (any CacheStore)?
    var storeStartup = StoreStatus.Startup.notConfigured
    if policy.cache.store == .sqlite {
        let sqlite = policy.cache.sqlite
        do {
            let opened = try SQLiteCacheStore.open(
                configuration: .init(path: sqlite.path, maxEntries: sqlite.maxEntries, ttlSeconds: ttl, maxPending: sqlite.maxPendingWrites),
                logger: logger,
                observer: stats
            )
            periodic.append(SQLiteCacheWriter(store: opened.store, flushInterval: sqlite.flushInterval.duration, time: options.timers, logger: logger))
            store = opened.store
            storeStartup = .opened(movedAside: opened.movedAside)
        } catch {
            logger.error("running without the SQLite cache store: it cannot be opened", metadata: ["error.type": "\(error)"])
            storeStartup = .off(reason: error.description)
        }
    } else if policy.cache.store == .redis {
        // Lazy: nothing connects until the first lookup or flush, so a Redis that is down at startup is reported
        // in /readyz (degraded) instead of stopping the proxy. `redis.leases` is the cross-replica PairLeases.
        let config = policy.cache.redis
        do {
            let redis = try RedisCacheStore(
                configuration: .init(
                    url: config.url, prefix: config.prefix, poolSize: config.poolSize, timeout: config.timeout.duration,
                    ttl: policy.cache.ttl.duration, lease: config.lease.duration
                ),
                logger: logger,
                observer: stats
            )
            periodic.append(RedisCacheWriter(store: redis, logger: logger))
            store = redis
            storeStartup = .opened(movedAside: nil)
        } catch {
            logger.error("running without the Redis cache store: bad configuration", metadata: ["error.type": "\(error)"])
            storeStartup = .off(reason: error.description)
        }
    }
    let storeStatus = StoreStatus(name: policy.cache.store.rawValue, startup: storeStartup, store: store)
    let memory = policy.cache.memoryEntries > 0 ? MemoryTier(capacity: policy.cache.memoryEntries, ttlSeconds: ttl) : nil
    let cache = TieredCache(memory: memory, store: store, logger: logger, observer: stats)

    // The pool lets at most max_concurrency calls per backend hold a connection and queues the rest itself, so time
    // queued for a local connection is never mistaken for a slow backend.
    let connectionsPerBackend = policy.models.flatMap(\.backends).map(\.maxConcurrency).max() ?? 64
    // A refused connection fails the call at once (the pool fails over and ejects), instead of AsyncHTTPClient
    // retrying it with backoff until the call's whole timeout: a killed GPU must cost its calls nothing but a retry.
    var connectionPool = HTTPClient.Configuration.ConnectionPool(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: connectionsPerBackend)
    connectionPool.retryConnectionEstablishment = false
    let httpClient = HTTPClient(
        eventLoopGroupProvider: .singleton,
        configuration: .init(timeout: .init(connect: .seconds(2)), connectionPool: connectionPool, decompression: .disabled)
    )
    services.append(HTTPClientService(client: httpClient, logger: logger))

    // Models and keys live in one swappable snapshot: a policy reload replaces it whole (see PolicyReloader).
    let generations = CacheGenerations()
    let factory = ModelFactory(
        httpClient: httpClient, connectionsPerBackend: connectionsPerBackend, observer: stats, generations: generations,
        backgroundShare: policy.jobs.maxShare
    )
    let keyRing = KeyRing(configuration: policy.auth)
    let runtime = RuntimeHolder(
        Runtime(
            models: ModelTable(policy.models.map(factory.make)), keyRing: keyRing, keyStats: KeyStats(names: keyRing.names + [KeyRing.admin.name]),
            protectStats: policy.auth.protectStats, fileSHA256: options.policySHA256
        )
    )
    // Probes the current pools, and retired ones until the requests on them are done.
    periodic.append(HealthChecker(logger: logger) { runtime.poolsToProbe })
    let reloadStats = ReloadStats(file: options.policyFile, loaded: runtime.current)
    let reloader = options.policyFile.map {
        PolicyReloader(file: $0, running: policy, holder: runtime, factory: factory, stats: stats, reloadStats: reloadStats, logger: logger)
    }
    if options.reloadOnHangup, let reloader { services.append(ReloadOnHangup(reloader: reloader, logger: logger)) }
    // Purges: each model's cache generation, kept in the store; re-read every second (replicas sharing Redis, and
    // models a reload adds).
    let purger = CachePurger(runtime: runtime, generations: generations, store: store as? any GenerationStore, logger: logger)
    if purger.hasStore { periodic.append(Periodic(name: "generation-refresh", interval: .seconds(1)) { await purger.load() }) }
    // Replicas sharing a Redis also share its leases, so a pair is scored once across all of them.
    let pipeline = RerankPipeline(runtime: runtime, cache: cache, stats: stats, leases: (store as? RedisCacheStore)?.leases)
    let requestLimits = RequestLimits(maxDocuments: policy.server.maxDocuments)
    let jobRunner = JobRunner(
        store: makeJobStore(cache: store, logger: logger), pipeline: pipeline, configuration: policy.jobs, limits: requestLimits, logger: logger
    )
    periodic += jobRunner.periodicWorks
    // Before the runner: on shutdown the runner stops (ending its current chunk) before the timer loop's last
    // cache flush, and the loop stops before the HTTP client its health probes use.
    services.append(TimerLoop(works: periodic, time: options.timers, logger: logger))
    services.append(jobRunner)

    let limits = ServerLimits(policy.server, fileLimit: FileDescriptorLimit.current(), logger: logger)
    let router = Router(context: AppRequestContext.self)
    router.add(middleware: LogRequestsMiddleware(.debug))
    let rerankController = RerankController(
        pipeline: pipeline,
        limits: requestLimits,
        maxBodyBytes: policy.server.maxBodyBytes,
        bodyBudget: limits.bodyBudget
    )
    rerankController.addRoutes(to: router)
    BatchController(pipeline: pipeline, rerank: rerankController, maxBatchPairs: policy.jobs.maxBatchPairs).addRoutes(to: router)
    JobsController(pipeline: pipeline, rerank: rerankController, runner: jobRunner, configuration: policy.jobs).addRoutes(to: router)
    StatusController(
        pipeline: pipeline, stats: stats, registry: options.registry, poolGauges: options.registry.map(PoolGauges.init),
        maxDocuments: policy.server.maxDocuments, storeStatus: storeStatus, reloadStats: reloadStats
    ).addRoutes(to: router)
    AdminController(reloader: reloader, runtime: runtime).addRoutes(to: router)
    CacheAdminController(purger: purger, reloader: reloader, startPolicy: policy, runtime: runtime).addRoutes(to: router)
    ConsoleController().addRoutes(to: router)

    let host = options.host ?? policy.server.host
    let port = options.port ?? policy.server.port
    let onServerRunning = options.onServerRunning
    var app = Application(
        router: router,
        server: limits.server,
        configuration: .init(
            address: .hostname(host, port: port),
            serverName: "rerank-proxy",
            availableConnectionsDelegate: limits.connectionLimit
        ),
        services: services,
        onServerRunning: { channel in
            logger.info("rerank-proxy listening", metadata: ["address": "\(channel.localAddress?.description ?? "?")"])
            await onServerRunning(channel)
        },
        logger: logger
    )
    // Read TEI backends' per-call limits before taking traffic (2 s timeout each; retried by the health checker).
    app.beforeServerStarts {
        // Purged generations before the first lookup, so no purged score is served after a restart.
        await purger.load()
        for pool in runtime.current.models.pools {
            await pool.discoverBatchLimits(logger: logger)
            await pool.checkCanary(logger: logger)
        }
        // Jobs resumed from the store wait for the same: no purged score, no unchecked backend.
        jobRunner.open()
    }
    return app
}

/// Shuts the shared HTTP client down when the service group stops.
struct HTTPClientService: Service {
    let client: HTTPClient
    let logger: Logger

    func run() async throws {
        try? await gracefulShutdown()
        do {
            try await client.shutdown()
        } catch {
            logger.warning("HTTP client shutdown failed", metadata: ["error.type": "\(error)"])
        }
    }
}
