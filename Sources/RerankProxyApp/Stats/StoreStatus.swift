import RerankCache

/// What the configured persistent store is doing, as `/readyz` and `/v1/stats` report it (`store_health`).
///
/// - `ok`: open and persisting (`moved_aside` names the unusable file it replaced at startup, if any);
/// - `degraded`: open and answering lookups, but not persisting every score (write queue full, commits
///   failing), with the reason;
/// - `off`: configured but it could not be opened, not even as a new file: the proxy runs on the memory tier
///   alone, with the reason;
/// - `none`: no store configured.
struct StoreStatus: Sendable {
    enum Startup: Sendable {
        case notConfigured
        case opened(movedAside: String?)
        case off(reason: String)
    }

    /// The configured store (`sqlite`, `none`), also when it is off.
    let name: String
    let startup: Startup
    let store: (any CacheStore)?

    struct Report: Encodable, Equatable {
        var status: String
        var reason: String?
        var movedAside: String?

        enum CodingKeys: String, CodingKey {
            case status, reason
            case movedAside = "moved_aside"
        }
    }

    var report: Report {
        switch startup {
        case .notConfigured:
            return Report(status: "none")
        case .off(let reason):
            return Report(status: "off", reason: reason)
        case .opened(let movedAside):
            switch store?.health ?? .ok {
            case .ok: return Report(status: "ok", movedAside: movedAside)
            case .degraded(let reason): return Report(status: "degraded", reason: reason, movedAside: movedAside)
            }
        }
    }
}
