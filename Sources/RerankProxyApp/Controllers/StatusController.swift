import Foundation
import Hummingbird
import NIOCore
import Prometheus
import RerankCache
import RerankCore

/// Health, readiness, model list, TEI `/info`, `/v1/stats` and Prometheus `/metrics`.
struct StatusController: Sendable {
    let pipeline: RerankPipeline
    let stats: ProxyStats
    let registry: PrometheusCollectorRegistry?
    /// The pool gauges, published into `registry` at each read of `/metrics`.
    let poolGauges: PoolGauges?
    let maxDocuments: Int
    let storeStatus: StoreStatus
    /// The policy's file, hash, generation and reload counts (`policy` in `/v1/stats`).
    let reloadStats: ReloadStats

    func addRoutes(to router: Router<AppRequestContext>) {
        router.get("/healthz") { _, _ in json(#"{"status":"ok"}"#) }
        router.get("/health") { _, _ in json(#"{"status":"ok"}"#) }
        router.get("/readyz") { _, _ in readiness() }
        router.get("/v1/models") { _, _ in models() }
        router.get("/models") { _, _ in models() }
        router.get("/info") { _, _ in info() }
        router.get("/v1/stats") { request, _ in
            try requireAdmin(request)
            return statsResponse()
        }
        router.get("/stats") { request, _ in
            try requireAdmin(request)
            return statsResponse()
        }
        if let registry {
            router.get("/metrics") { request, _ in
                try requireAdmin(request)
                poolGauges?.publish(pipeline.runtime.current.models.all.map(PoolStatus.init))
                return Response(
                    status: .ok,
                    headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                    body: .init(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer()))
                )
            }
        }
    }

    /// With `auth.protect_stats`, only an admin key may read the counters.
    private func requireAdmin(_ request: Request) throws {
        let runtime = pipeline.runtime.current
        guard runtime.protectStats else { return }
        let secret = KeyRing.presentedSecret(in: request.headers)
        guard let secret, runtime.keyRing.isAdmin(secret) else { throw ProxyError.unauthorized(.documents) }
    }

    private func json(_ bytes: [UInt8], status: HTTPResponse.Status = .ok, cacheControl: String? = nil) -> Response {
        JSONResponse.make(bytes, status: status, cacheControl: cacheControl)
    }

    private func json(_ text: String) -> Response { json(Array(text.utf8)) }

    /// 200 while every model has a healthy backend, else 503 naming the models that have none; see ``Readiness``.
    private func readiness() -> Response {
        let models = pipeline.runtime.current.models.all.map { model in
            Readiness.Model(name: model.name, backends: model.pool.backends.count, healthyBackends: model.pool.healthyBackends.count)
        }
        let readiness = Readiness(models: models, store: storeStatus.name, storeHealth: storeStatus.report)
        return json(JSONResponse.encode(readiness), status: readiness.isReady ? .ok : .serviceUnavailable)
    }

    private func models() -> Response {
        let created = Int(stats.started.timeIntervalSince1970)
        var w = JSONWriter()
        w.raw("{\"object\":\"list\",\"data\":[")
        for (i, name) in pipeline.runtime.current.models.all.map(\.name).enumerated() {
            if i > 0 { w.byte(UInt8(ascii: ",")) }
            w.raw("{\"id\":")
            w.string(name)
            w.raw(",\"object\":\"model\",\"created\":")
            w.int(created)
            w.raw(",\"owned_by\":\"rerank-proxy\",\"capabilities\":[\"rerank\"]}")
        }
        w.raw("]}")
        return json(w.bytes)
    }

    private func info() -> Response {
        let defaultModel = pipeline.runtime.current.models.defaultModel
        var w = JSONWriter()
        w.raw("{\"model_id\":")
        w.string(defaultModel)
        w.raw(",\"model_sha\":null,\"model_dtype\":\"float32\",\"model_type\":{\"reranker\":{\"id2label\":{\"0\":\"LABEL_0\"},\"label2id\":{\"LABEL_0\":0}}}")
        w.raw(",\"max_concurrent_requests\":512,\"max_input_length\":8192,\"max_batch_tokens\":16384,\"max_batch_requests\":null")
        w.raw(",\"max_client_batch_size\":")
        w.int(maxDocuments)
        w.raw(",\"auto_truncate\":true,\"tokenization_workers\":1,\"version\":\"rerank-proxy\",\"served_model_name\":")
        w.string(defaultModel)
        w.byte(UInt8(ascii: "}"))
        return json(w.bytes)
    }

    private func statsResponse() -> Response {
        let runtime = pipeline.runtime.current
        let pools = runtime.models.all.map(PoolStatus.init)
        var report = StatsReport(
            snapshot: stats.snapshot(), cache: pipeline.cache, storeHealth: storeStatus.report, inFlight: pipeline.coalescer.inFlightCount + pipeline.backgroundCoalescer.inFlightCount,
            pools: pools, keys: runtime.keyRing.isEnabled ? runtime.keyStats.snapshot : nil
        )
        report.policy = reloadStats.report(runtime, drainingPools: pipeline.runtime.drainingPools)
        for i in report.models.indices {
            report.models[i].cache_generation = runtime.models[report.models[i].name]?.generation.current
        }
        return json(JSONResponse.encode(report), cacheControl: "no-store")
    }
}
