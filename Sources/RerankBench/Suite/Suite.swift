import AsyncHTTPClient
import Foundation
import NIOCore
import RerankCache
import RerankCore
import Logging

/// The scenarios of docs/benchmarks.md. Each appends rows (and notes) for the report.
struct Suite: Sendable {
    struct Row {
        var scenario: String
        var variant: String
        var report: RunReport
    }

    let binary: String
    let seconds: Int
    let smoke: Bool
    var rows: [Row] = []
    var notes: [String: [String]] = [:]
    var hitRatioSeries: [(seconds: Double, cumulative: Double, interval: Double)] = []
    var failedChecks: [String] = []
    var scale: (entries: Int, insertSeconds: Double, bytesPerEntry: Double, p50: Double, p99: Double)?
    let corpus = Corpus(seed: 42)
    /// Scenario numbers to run (`1`, `2`, `3`, `3b`, `4`, `5`); empty runs them all.
    var only: Set<String> = []
    /// The API the proxy speaks to the simulated GPUs (`cohere`, `tei` or `vllm`).
    var api = "cohere"
    /// The Redis of the Redis-tier rows and the two-replica trace, or why they were skipped.
    var redis: BenchRedis?
    var redisSkipped: String?

    func wants(_ scenario: String) -> Bool { only.isEmpty || only.contains(scenario) }

    init(binary: String, seconds: Int, smoke: Bool) {
        self.binary = binary
        self.seconds = seconds
        self.smoke = smoke
    }

    mutating func note(_ scenario: String, _ text: String) {
        notes[scenario, default: []].append(text)
        progress("  note: \(text)")
    }

    mutating func check(_ condition: Bool, _ message: String) {
        if !condition { failedChecks.append(message) }
    }

    mutating func record(_ scenario: String, _ variant: String, _ report: RunReport) {
        progress("[\(scenario)] \(variant): \(report.rps) req/s, p50 \(report.p50_ms) ms, p99 \(report.p99_ms) ms, errors \(report.errors)")
        rows.append(Row(scenario: scenario, variant: variant, report: report))
    }

    mutating func runAll(scaleEntries: Int) async throws {
        let fast = SimulatedGPU(cost: .init(base: .zero, perPair: .zero, concurrency: 64))
        let slow20 = SimulatedGPU(cost: .init(base: .milliseconds(20), perPair: .zero, concurrency: 64))
        let t4 = SimulatedGPU(cost: .init())
        let gpus = [fast, slow20, t4]
        if (wants("1") && !smoke) || wants("3b") {
            switch BenchRedis.start() {
            case .success(let started): redis = started
            case .failure(let reason):
                redisSkipped = reason.description
                progress("Redis rows skipped: \(reason)")
            }
        }
        let started = redis
        defer { started?.stop() }
        let initial = self
        self = try await withSimulatedGPUs(gpus) { urls in
            var suite = initial
            if suite.wants("1") { try await suite.hitPath(backend: urls[0], gpu: fast) }
            if suite.wants("4") { try await suite.burst(backend: urls[1], gpu: slow20) }
            if suite.smoke {
                // A few seconds: 200 trace requests over the 20 ms backend still overlap across the replicas.
                if suite.wants("3b") { try await suite.twoReplicaTrace(backend: urls[1], gpu: slow20, requests: 200) }
            } else {
                if suite.wants("2") { try await suite.missOverhead(fast: urls[0], slow: urls[1]) }
                if suite.wants("3") { try await suite.ragTrace(backend: urls[2], gpu: t4) }
                if suite.wants("3b") { try await suite.twoReplicaTrace(backend: urls[2], gpu: t4, requests: 3000) }
            }
            return suite
        }
        if scaleEntries > 0 && wants("5") { try await scaleScenario(entries: scaleEntries) }
    }

    // MARK: - Driving

    /// Runs a fixed body with wrk when it is installed, else with the in-process driver.
    mutating func drive(_ scenario: String, _ variant: String, url: String, body: [UInt8], concurrency: Int) async throws {
        if let report = try Wrk.run(url: url, body: body, connections: concurrency, seconds: seconds) {
            record(scenario, variant + " (wrk)", report)
        } else {
            let client = BenchHTTP.makeClient(concurrency: concurrency)
            let buffer = ByteBuffer(bytes: body)
            let result = await LoadDriver(url: url, concurrency: concurrency, duration: .seconds(seconds)).run(client: client) { _ in buffer }
            try await client.shutdown()
            record(scenario, variant + " (driver)", RunReport(name: variant, result: result, concurrency: concurrency))
        }
    }

    func driverRun(url: String, bodies: RequestBodies, concurrency: Int, count: Int? = nil, duration: Duration? = nil, get: Bool = false) async throws -> LoadDriver.Result {
        let client = BenchHTTP.makeClient(concurrency: concurrency)
        let result = await LoadDriver(url: url, concurrency: concurrency, count: count ?? bodies.count, duration: duration, method: get ? .GET : .POST)
            .run(client: client) { bodies.body($0) }
        try await client.shutdown()
        return result
    }

    // MARK: - 1. Hit path

    mutating func hitPath(backend: String, gpu: SimulatedGPU) async throws {
        let scenario = "1. hit path"
        let proxy = try ProxyProcess(binary: binary, backendURL: backend, api: api, memoryEntries: 1_000_000)
        try await proxy.waitReady()
        let ceiling = try await driverRun(url: proxy.baseURL + "/healthz", bodies: .fixed(ByteBuffer()), concurrency: 32, duration: .seconds(max(2, seconds / 2)), get: true)
        record(scenario, "driver ceiling: GET /healthz, in-process driver", RunReport(name: "ceiling", result: ceiling, concurrency: 32))
        if let wrk = Wrk.path {
            note(scenario, "fixed requests are driven by \(wrk) (1 thread); the in-process driver's ceiling is the /healthz row")
        } else {
            note(scenario, "wrk is not installed: fixed requests use the in-process driver, whose ceiling is the /healthz row")
        }
        let shapes = [(20, 500), (100, 1000)]
        for (docs, bytes) in shapes {
            guard case .fixed(let buffer) = RequestBodies.fixed(documents: docs, bytes: bytes, corpus: corpus, dialect: .documents, model: nil) else { continue }
            let body = Array(buffer.readableBytesView)
            _ = try await driverRun(url: proxy.baseURL + "/v1/rerank", bodies: .fixed(buffer), concurrency: 1, count: 1)
            try await drive(scenario, "memory tier, \(docs) docs × \(bytes) B, c=32", url: proxy.baseURL + "/v1/rerank", body: body, concurrency: 32)
        }
        proxy.stop()
        if smoke { return }
        let sqliteOnly = try ProxyProcess(binary: binary, backendURL: backend, api: api, memoryEntries: 0)
        let sqlite = try await storeOnlyRows(scenario, "SQLite tier (memory off)", tier: "sqlite", proxy: sqliteOnly, shapes: shapes, gpu: gpu)
        note(scenario, "SQLite-tier runs served \(sqlite.hits) pairs from SQLite (\(sqlite.errors) store errors); the backend scored \(sqlite.backendPairs) pairs (\(shapes.map(\.0).reduce(0, +)) to warm)")
        guard let redis else {
            note(scenario, "Redis-tier rows skipped: \(redisSkipped ?? "no Redis")")
            return
        }
        let redisOnly = try ProxyProcess(binary: binary, backendURL: backend, api: api, memoryEntries: 0, redis: redis.scope("hit-path"))
        let tier = try await storeOnlyRows(scenario, "Redis tier (memory off)", tier: "redis", proxy: redisOnly, shapes: shapes, gpu: gpu)
        note(scenario, "Redis-tier runs (\(redis.origin); pool 8, timeout 50 ms: a slower lookup is a miss) served \(tier.hits) pairs from Redis (\(tier.errors) store errors); the backend scored \(tier.backendPairs) pairs (\(shapes.map(\.0).reduce(0, +)) to warm, more are lookups that timed out)")
    }

    /// The hit path with the memory tier off: one cold request per shape, a pause longer than the write-behind
    /// flush interval (SQLite 1 s, Redis 100 ms), then a c=32 run per shape.
    mutating func storeOnlyRows(_ scenario: String, _ label: String, tier: String, proxy: ProxyProcess, shapes: [(Int, Int)], gpu: SimulatedGPU) async throws -> (hits: Int, errors: Int, backendPairs: Int) {
        try await proxy.waitReady()
        let before = gpu.snapshot
        for (docs, bytes) in shapes {
            guard case .fixed(let buffer) = RequestBodies.fixed(documents: docs, bytes: bytes, corpus: corpus, dialect: .documents, model: nil) else { continue }
            _ = try await driverRun(url: proxy.baseURL + "/v1/rerank", bodies: .fixed(buffer), concurrency: 1, count: 1)
            try await Task.sleep(for: .milliseconds(1200))  // let the write-behind flush
            try await drive(scenario, "\(label), \(docs) docs × \(bytes) B, c=32", url: proxy.baseURL + "/v1/rerank", body: Array(buffer.readableBytesView), concurrency: 32)
        }
        let stats = (await BenchHTTP.getJSON(proxy.baseURL + "/v1/stats"))?["tiers"] as? [String: Any]
        let counters = stats?[tier] as? [String: Any]
        proxy.stop()
        return (counters?["hits"] as? Int ?? 0, counters?["errors"] as? Int ?? 0, gpu.snapshot.pairs - before.pairs)
    }

    // MARK: - 2. Miss-path overhead

    mutating func missOverhead(fast: String, slow: String) async throws {
        let scenario = "2. miss-path overhead"
        let documents = (0..<20).map { corpus.text($0, bytes: 500) }
        func unique(_ tag: String) -> RequestBodies {
            .unique(prefix: "\(tag) \(UUID())", documents: documents, dialect: .documents, model: nil)
        }
        // The full proxy (memory + SQLite), and a pass-through proxy with no cache at all, which isolates the
        // cost of the extra HTTP hop from the cost of the cache lookups on a miss.
        let variants: [(backend: String, url: String, concurrency: Int)] = [(
            "0 ms backend", fast, 1), ("0 ms backend", fast, 4), ("20 ms backend", slow, 4),
        ]
        for (name, url, concurrency) in variants {
            let full = try ProxyProcess(binary: binary, backendURL: url, api: api, memoryEntries: 1_000_000)
            let passThrough = try ProxyProcess(binary: binary, backendURL: url, api: api, memoryEntries: 0, store: "none")
            try await full.waitReady()
            try await passThrough.waitReady()
            let duration = Duration.seconds(seconds)
            let direct = try await driverRun(url: url + "/v1/rerank", bodies: unique("direct"), concurrency: concurrency, duration: duration)
            let bare = try await driverRun(url: passThrough.baseURL + "/v1/rerank", bodies: unique("bare"), concurrency: concurrency, duration: duration)
            let through = try await driverRun(url: full.baseURL + "/v1/rerank", bodies: unique("proxy"), concurrency: concurrency, duration: duration)
            let label = "\(name), unique 20 × 500 B, c=\(concurrency)"
            record(scenario, "\(label), direct", RunReport(name: "direct", result: direct, concurrency: concurrency))
            record(scenario, "\(label), proxy without cache (pass-through)", RunReport(name: "bare", result: bare, concurrency: concurrency))
            record(scenario, "\(label), proxy with memory + SQLite", RunReport(name: "proxy", result: through, concurrency: concurrency))
            note(scenario, String(
                format: "%@: added p50 %.3f ms / p99 %.3f ms (targets ≤ 0.5 / ≤ 2); of which the HTTP hop alone (pass-through) %.3f / %.3f ms",
                label, through.percentileMs(50) - direct.percentileMs(50), through.percentileMs(99) - direct.percentileMs(99),
                bare.percentileMs(50) - direct.percentileMs(50), bare.percentileMs(99) - direct.percentileMs(99)
            ))
            full.stop()
            passThrough.stop()
        }
    }

    // MARK: - 3. RAG trace

    mutating func ragTrace(backend: String, gpu: SimulatedGPU) async throws {
        let scenario = "3. RAG trace"
        let trace = TraceGenerator(requests: 3000).generate()
        let unique = TraceGenerator.uniquePairs(trace)
        let total = trace.reduce(0) { $0 + $1.docs.count }
        note(scenario, "trace: \(trace.count) requests, \(total) pairs, \(unique) unique pairs (Zipf s=1.1 over 2000 queries, seed 42); simulated T4: \(gpu.cost)")
        let bodies = RequestBodies.trace(trace, corpus: corpus, dialect: .documents, model: nil)
        let concurrency = 8

        let beforeDirect = gpu.snapshot
        let direct = try await driverRun(url: backend + "/v1/rerank", bodies: bodies, concurrency: concurrency, duration: .seconds(seconds * 3))
        var directReport = RunReport(name: "direct", result: direct, concurrency: concurrency)
        directReport.backend_pairs = gpu.snapshot.pairs - beforeDirect.pairs
        record(scenario, "direct to the simulated GPU (first \(direct.requests) requests, \(seconds * 3) s)", directReport)

        let proxy = try ProxyProcess(binary: binary, backendURL: backend, api: api, memoryEntries: 1_000_000)
        try await proxy.waitReady()
        let before = gpu.snapshot
        let statsURL = proxy.baseURL + "/v1/stats"
        let sampler = Task { () -> [(Double, Int, Int)] in
            var samples: [(Double, Int, Int)] = []
            let clock = ContinuousClock()
            let start = clock.now
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                if let stats = await BenchHTTP.getJSON(statsURL), let pairs = stats["pairs"] as? [String: Int] {
                    samples.append(((clock.now - start).milliseconds / 1000, pairs["hits"] ?? 0, pairs["total"] ?? 0))
                }
            }
            return samples
        }
        let through = try await driverRun(url: proxy.baseURL + "/v1/rerank", bodies: bodies, concurrency: concurrency)
        sampler.cancel()
        let samples = await sampler.value
        var report = RunReport(name: "proxy", result: through, concurrency: concurrency)
        report.backend_pairs = gpu.snapshot.pairs - before.pairs
        report.backend_calls = gpu.snapshot.calls - before.calls
        report.unique_pairs = unique
        report.hit_ratio = (await BenchHTTP.getJSON(statsURL))?["hit_ratio"] as? Double
        record(scenario, "through the proxy (whole trace, cold cache)", report)
        check(report.backend_pairs == unique, "RAG trace: backend scored \(report.backend_pairs ?? -1) pairs, trace has \(unique) unique pairs")
        note(scenario, "backend pairs forwarded \(report.backend_pairs ?? -1) vs unique pairs \(unique): " + (report.backend_pairs == unique ? "equal, nothing scored twice" : "MISMATCH"))
        var previous = (hits: 0, total: 0)
        hitRatioSeries = samples.map { t, hits, total in
            let interval = total > previous.total ? Double(hits - previous.hits) / Double(total - previous.total) : 0
            previous = (hits, total)
            return (t, total > 0 ? Double(hits) / Double(total) : 0, interval)
        }
        proxy.stop()
    }

    // MARK: - 3b. Two replicas on one Redis

    /// The section-3 trace split over two proxies that share one Redis (memory tier on, as in production) and
    /// one simulated GPU: alternate requests to each, both at once. Cross-replica coalescing (Redis leases)
    /// must keep backend pairs equal to unique pairs.
    mutating func twoReplicaTrace(backend: String, gpu: SimulatedGPU, requests: Int) async throws {
        let scenario = "3b. two-replica RAG trace (Redis)"
        guard let redis else {
            note(scenario, "skipped: \(redisSkipped ?? "no Redis")")
            return
        }
        let trace = TraceGenerator(requests: requests).generate()
        let unique = TraceGenerator.uniquePairs(trace)
        let halves = [0, 1].map { first in stride(from: first, to: trace.count, by: 2).map { trace[$0] } }
        note(scenario, "the seeded trace of section 3 (\(trace.count) requests, \(trace.reduce(0) { $0 + $1.docs.count }) pairs, \(unique) unique): requests alternate between replicas A and B, c=4 each at once; store: redis on \(redis.origin), memory tier on; one simulated GPU: \(gpu.cost)")
        let scope = redis.scope("two-replica")
        let replicas = try [0, 1].map { _ in try ProxyProcess(binary: binary, backendURL: backend, api: api, memoryEntries: 1_000_000, redis: scope) }
        for replica in replicas { try await replica.waitReady() }
        let before = gpu.snapshot
        let clock = ContinuousClock()
        let start = clock.now
        let suite = self
        let bodies = halves.map { RequestBodies.trace($0, corpus: corpus, dialect: .documents, model: nil) }
        let urls = replicas.map { $0.baseURL + "/v1/rerank" }
        async let a = suite.driverRun(url: urls[0], bodies: bodies[0], concurrency: 4)
        async let b = suite.driverRun(url: urls[1], bodies: bodies[1], concurrency: 4)
        var merged = try await a
        merged.merge(try await b)
        merged.seconds = (clock.now - start).milliseconds / 1000
        var report = RunReport(name: "two replicas", result: merged, concurrency: 8)
        report.backend_pairs = gpu.snapshot.pairs - before.pairs
        report.backend_calls = gpu.snapshot.calls - before.calls
        report.unique_pairs = unique
        var counts = (hits: 0, total: 0)
        for (name, replica) in zip(["A", "B"], replicas) {
            let stats = await BenchHTTP.getJSON(replica.baseURL + "/v1/stats")
            let pairs = stats?["pairs"] as? [String: Int] ?? [:]
            let tiers = stats?["tiers"] as? [String: [String: Any]] ?? [:]
            counts.hits += pairs["hits"] ?? 0
            counts.total += pairs["total"] ?? 0
            note(scenario, "replica \(name): pairs \(pairs["total"] ?? -1), forwarded \(pairs["forwarded"] ?? -1), coalesced \(pairs["coalesced"] ?? -1), hits \(pairs["hits"] ?? -1) (memory \(tiers["memory"]?["hits"] as? Int ?? -1), Redis \(tiers["redis"]?["hits"] as? Int ?? -1); Redis errors \(tiers["redis"]?["errors"] as? Int ?? -1))")
            replica.stop()
        }
        report.hit_ratio = counts.total > 0 ? Double(counts.hits) / Double(counts.total) : nil
        record(scenario, "two replicas on one Redis (whole trace split A/B, cold cache)", report)
        check(report.backend_pairs == unique && merged.errors == 0, "two-replica RAG trace: backend scored \(report.backend_pairs ?? -1) pairs, trace has \(unique) unique pairs; \(merged.errors) errors")
        note(scenario, "backend pairs \(report.backend_pairs ?? -1) vs unique pairs \(unique): " + (report.backend_pairs == unique ? "equal, nothing scored twice across the replicas" : "MISMATCH"))
    }

    // MARK: - 4. Burst

    mutating func burst(backend: String, gpu: SimulatedGPU) async throws {
        let scenario = "4. burst"
        let proxy = try ProxyProcess(binary: binary, backendURL: backend, api: api, memoryEntries: 1_000_000)
        try await proxy.waitReady()
        let before = gpu.snapshot
        let bodies = RequestBodies.fixed(documents: 20, bytes: 500, corpus: corpus, dialect: .documents, model: nil)
        let result = try await driverRun(url: proxy.baseURL + "/v1/rerank", bodies: bodies, concurrency: 100, count: 100)
        var report = RunReport(name: "burst", result: result, concurrency: 100)
        report.backend_pairs = gpu.snapshot.pairs - before.pairs
        report.backend_calls = gpu.snapshot.calls - before.calls
        report.unique_pairs = 20
        record(scenario, "100 identical cold requests at once, 20 docs, 20 ms backend", report)
        let stats = await BenchHTTP.getJSON(proxy.baseURL + "/v1/stats")
        let pairs = stats?["pairs"] as? [String: Int] ?? [:]
        note(scenario, "backend calls \(report.backend_calls ?? -1), pairs \(report.backend_pairs ?? -1); proxy counted forwarded \(pairs["forwarded"] ?? -1), coalesced \(pairs["coalesced"] ?? -1), hits \(pairs["hits"] ?? -1)")
        check(report.backend_pairs == 20 && result.errors == 0, "burst: backend scored \(report.backend_pairs ?? -1) pairs for 20 unique, \(result.errors) errors")
        proxy.stop()
    }

    // MARK: - 5. Scale

    mutating func scaleScenario(entries: Int) async throws {
        let scenario = "5. SQLite at scale"
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rerank-bench-scale-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var logger = Logger(label: "bench")
        logger.logLevel = .warning
        let store = try SQLiteCacheStore(configuration: .init(path: directory + "/scores.sqlite", maxEntries: 0), logger: logger)
        let encoder = CacheKeyEncoder(model: "bench-model", revision: "", settings: .init(), query: "scale")
        let clock = ContinuousClock()
        let start = clock.now
        let batch = 200_000
        var written = 0
        while written < entries {
            let n = min(batch, entries - written)
            store.save((written..<(written + n)).map { (encoder.key(document: "d\($0)"), CachedScore(score: Double($0) / Double(entries), storedAt: 1)) })
            try await store.flush()
            written += n
        }
        let insertSeconds = (clock.now - start).milliseconds / 1000
        try await store.checkpoint()
        let bytes = ((try? FileManager.default.attributesOfItem(atPath: directory + "/scores.sqlite"))?[.size] as? NSNumber)?.doubleValue ?? 0
        var rng = SplitMix64(seed: 7)
        var latencies: [Double] = []
        for _ in 0..<500 {
            let keys = (0..<100).map { _ in encoder.key(document: "d\(Int(rng.next() % UInt64(entries)))") }
            let t = clock.now
            let found = try await store.lookup(keys)
            latencies.append((clock.now - t).milliseconds)
            check(found.allSatisfy { $0 != nil }, "scale: a stored key was not found")
        }
        latencies.sort()
        scale = (entries, insertSeconds, bytes / Double(entries), latencies[latencies.count / 2], latencies[latencies.count * 99 / 100])
        note(scenario, String(format: "%d entries written in %.1f s; %.1f bytes per entry; 100-key lookup p50 %.3f ms, p99 %.3f ms", entries, insertSeconds, bytes / Double(entries), scale!.p50, scale!.p99))
        store.close()
    }
}

/// Writes a progress line at once (print is block-buffered when stdout is a pipe).
func progress(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}
