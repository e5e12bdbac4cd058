/// Generations live at `prefix + "gen:" + model` as Redis integers (`INCR`), shared by every replica.
extension RedisCacheStore: GenerationStore {
    public func generations(models: [String]) async throws(CacheError) -> [String: UInt64] {
        guard !models.isEmpty else { return [:] }
        let command = [RedisKeyspace.mgetName] + models.map { keyspace.generationKey($0) }
        let reply = try await pool.withConnection { handle in try handle.pipeline([command]) }
        guard case .array(let values)? = reply.first, values.count == models.count else {
            throw .query(reason: "redis answered MGET of the generations with \(String(describing: reply.first))")
        }
        var found: [String: UInt64] = [:]
        for (model, value) in zip(models, values) {
            if case .string(let bytes) = value, let generation = UInt64(String(decoding: bytes, as: UTF8.self)) {
                found[model] = generation
            }
        }
        return found
    }

    public func advanceGeneration(model: String) async throws(CacheError) -> UInt64 {
        let command = [Array("INCR".utf8), keyspace.generationKey(model)]
        let reply = try await pool.withConnection { handle in try handle.pipeline([command]) }
        guard case .integer(let value)? = reply.first, value > 0 else {
            throw .write(reason: "redis answered INCR of the generation with \(String(describing: reply.first))")
        }
        return UInt64(value)
    }
}

extension RedisKeyspace {
    /// Where a model's cache generation lives: `prefix + "gen:" + model`.
    func generationKey(_ model: String) -> [UInt8] { prefix + Array("gen:".utf8) + Array(model.utf8) }
}
