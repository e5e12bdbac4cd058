import RerankCache

extension PolicyConfig {
    /// A human-readable view of the resolved policy, with API keys masked.
    public var summary: String {
        var lines: [String] = []
        lines.append("server: \(server.host):\(server.port)  max_body_bytes=\(server.maxBodyBytes)  max_documents=\(server.maxDocuments)")
        lines.append(
            "limits: header_timeout=\(server.headerTimeout)  body_timeout=\(server.bodyTimeout)  idle_timeout=\(server.idleTimeout)"
                + "  max_connections=\(server.maxConnections)  max_buffered_body_bytes=\(server.maxBufferedBodyBytes)"
        )
        var cacheLine = "cache: memory_entries=\(cache.memoryEntries)  store=\(cache.store.rawValue)  ttl=\(cache.ttl)"
        if cache.store == .sqlite { cacheLine += "  sqlite.path=\(cache.sqlite.path)  sqlite.max_entries=\(cache.sqlite.maxEntries)  sqlite.flush_interval=\(cache.sqlite.flushInterval)  sqlite.max_pending_writes=\(cache.sqlite.maxPendingWrites)" }
        if cache.store == .redis {
            let redis = cache.redis
            let url = (try? RedisEndpoint(url: redis.url).description) ?? "?"
            cacheLine += "  redis.url=\(url)  redis.prefix=\(redis.prefix)  redis.pool_size=\(redis.poolSize)  redis.timeout=\(redis.timeout)  redis.lease=\(redis.lease)"
        }
        lines.append(cacheLine)
        lines.append(jobs.summary)
        lines.append("models:")
        for (i, model) in models.enumerated() {
            let revision = model.revision.isEmpty ? "" : "  revision=\(model.revision)"
            lines.append("  - \(model.name)\(i == 0 ? "  (default)" : "")\(revision)  eject_after=\(model.ejectAfter)  eject_for=\(model.ejectFor)  max_queue=\(model.maxQueue)")
            if let canary = model.canary { lines.append("      canary: tolerance=\(canary.tolerance)") }
            lines.append("      batch_window=\(model.batchWindow)  retries=\(model.retries.map(String.init) ?? "all")")
            for backend in model.backends {
                let endpoint = backend.url.trimmingSuffix("/") + (backend.path ?? backend.api.defaultPath)
                var line = "      \(backend.name): api=\(backend.api.rawValue)  POST \(endpoint)  max_batch=\(backend.maxBatch)  timeout=\(backend.timeout)"
                    + "  weight=\(backend.weight)  max_concurrency=\(backend.maxConcurrency)"
                if let served = backend.model { line += "  model=\(served)" }
                if let key = backend.apiKey, !key.isEmpty { line += "  api_key=***" }
                lines.append(line)
            }
        }
        return lines.joined(separator: "\n")
    }
}

extension String {
    func trimmingSuffix(_ suffix: Character) -> String {
        var s = self
        while s.last == suffix { s.removeLast() }
        return s
    }
}
