import Logging
import RerankCore

extension BackendPool {
    /// Scores the canary pair on each backend in `indices` (all when `nil`) not yet refused; refuses, with an
    /// error log, each whose score is further than the tolerance from the first healthy backend's. Returns
    /// whether each checked backend may be used (`false` when refused or its call failed).
    @discardableResult
    public func checkCanary(_ indices: [Int]? = nil, logger: Logger) async -> [Int: Bool] {
        guard let canary = configuration.canary else { return [:] }
        var verdicts: [Int: Bool] = [:]
        for index in indices ?? Array(backends.indices) {
            guard !state.withLock({ $0.refused.contains(index) }) else {
                verdicts[index] = false
                continue
            }
            let backend = backends[index]
            let reply: BackendReply
            do {
                reply = try await backend.score(query: canary.query, documents: [canary.document], settings: .init(), logger: logger)
            } catch {
                state.withLock { $0.canaryUnchecked(index) }
                logger.warning("canary call failed; backend left out until a health probe gets it checked", metadata: ["rerank.backend": "\(backend.name)", "error.type": "\(error)"])
                verdicts[index] = false
                continue
            }
            guard let score = reply.scores.first, reply.scores.count == 1, score.isFinite else {
                state.withLock { $0.canaryUnchecked(index) }
                verdicts[index] = false
                continue
            }
            let verdict = state.withLock { $0.canaryScored(index, score: score, tolerance: canary.tolerance) }
            if case .refused(let reference, let difference) = verdict {
                logger.error("backend REFUSED: its canary score differs from the pool's (another model or normalisation?); it will never be used", metadata: [
                    "rerank.backend": "\(backend.name)", "rerank.model": "\(model)", "rerank.canary.score": "\(score)",
                    "rerank.canary.reference": "\(reference)", "rerank.canary.difference": "\(difference)",
                    "rerank.canary.tolerance": "\(canary.tolerance)",
                ])
                verdicts[index] = false
            } else {
                verdicts[index] = true
            }
        }
        return verdicts
    }
}
