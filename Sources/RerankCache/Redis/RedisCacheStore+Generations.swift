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

    /// One `EVAL` (atomic): `SET` the generation key to `generation` only when its value is lower or absent.
    public func raiseGeneration(model: String, to generation: UInt64) async throws(CacheError) -> UInt64 {
        let command = [Array("EVAL".utf8), Self.raiseScript, Array("1".utf8), keyspace.generationKey(model), Array(String(generation).utf8)]
        let reply = try await pool.withConnection { handle in try handle.pipeline([command]) }
        guard case .string(let bytes)? = reply.first, let value = UInt64(String(decoding: bytes, as: UTF8.self)) else {
            throw .write(reason: "redis answered the generation raise with \(String(describing: reply.first))")
        }
        return value
    }

    /// Compares as Lua numbers (exact below 2^53, far beyond any count of purges) and answers the stored value as
    /// Redis holds it (a string).
    static let raiseScript = Array(
        """
        local current = redis.call('GET', KEYS[1])
        if current == false or tonumber(current) < tonumber(ARGV[1]) then
          redis.call('SET', KEYS[1], ARGV[1])
          return ARGV[1]
        end
        return current
        """.utf8
    )
}

extension RedisKeyspace {
    /// Where a model's cache generation lives: `prefix + "gen:" + model`.
    func generationKey(_ model: String) -> [UInt8] { prefix + Array("gen:".utf8) + Array(model.utf8) }
}
