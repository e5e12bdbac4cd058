/// The `/readyz` body.
///
/// Not ready (503) while some model has no healthy backend: every backend of it is ejected, so its misses
/// would fail; `unavailable_models` names them. A degraded or off store is reported in `store_health` but
/// keeps the proxy ready, since hits and misses still answer.
/// ```json
/// {"status":"unavailable","reason":"no healthy backend for model bge-m3","unavailable_models":["bge-m3"],
///  "store":"sqlite","store_health":{"status":"ok"},"backends":2,"healthy_backends":1,
///  "models":[{"name":"bge-m3","backends":1,"healthy_backends":0}, …]}
/// ```
struct Readiness: Encodable {
    struct Model: Encodable {
        var name: String
        var backends: Int
        var healthyBackends: Int

        enum CodingKeys: String, CodingKey {
            case name, backends
            case healthyBackends = "healthy_backends"
        }
    }

    var status: String
    var reason: String?
    var unavailableModels: [String]
    var store: String
    var storeHealth: StoreStatus.Report
    var backends: Int
    var healthyBackends: Int
    var models: [Model]

    enum CodingKeys: String, CodingKey {
        case status, reason, store, backends, models
        case unavailableModels = "unavailable_models"
        case storeHealth = "store_health"
        case healthyBackends = "healthy_backends"
    }

    init(models: [Model], store: String, storeHealth: StoreStatus.Report) {
        self.models = models
        self.store = store
        self.storeHealth = storeHealth
        backends = models.reduce(0) { $0 + $1.backends }
        healthyBackends = models.reduce(0) { $0 + $1.healthyBackends }
        unavailableModels = models.filter { $0.healthyBackends == 0 }.map(\.name)
        if unavailableModels.isEmpty {
            status = "ready"
        } else {
            status = "unavailable"
            let noun = unavailableModels.count == 1 ? "model" : "models"
            reason = "no healthy backend for \(noun) \(unavailableModels.joined(separator: ", "))"
        }
    }

    var isReady: Bool { unavailableModels.isEmpty }
}
