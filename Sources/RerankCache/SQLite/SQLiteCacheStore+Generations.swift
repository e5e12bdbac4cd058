import GRDB

/// Generations live in the `meta` table as `generation:<model>` rows.
extension SQLiteCacheStore: GenerationStore {
    public func generations(models: [String]) async throws(CacheError) -> [String: UInt64] {
        do {
            return try await pool.read { db in
                var found: [String: UInt64] = [:]
                for model in models {
                    if let value = try Int64.fetchOne(db, sql: "SELECT value FROM meta WHERE name = ?", arguments: [Self.generationRow(model)]) {
                        found[model] = UInt64(max(0, value))
                    }
                }
                return found
            }
        } catch {
            throw .query(reason: "\(error)")
        }
    }

    public func advanceGeneration(model: String) async throws(CacheError) -> UInt64 {
        do {
            return try await pool.write { db in
                let row = Self.generationRow(model)
                try db.execute(
                    sql: "INSERT INTO meta (name, value) VALUES (?, 1) ON CONFLICT(name) DO UPDATE SET value = value + 1",
                    arguments: [row]
                )
                return UInt64(max(0, try Int64.fetchOne(db, sql: "SELECT value FROM meta WHERE name = ?", arguments: [row]) ?? 0))
            }
        } catch {
            throw .write(reason: "\(error)")
        }
    }

    public func raiseGeneration(model: String, to generation: UInt64) async throws(CacheError) -> UInt64 {
        let target = Int64(clamping: generation)
        do {
            return try await pool.write { db in
                let row = Self.generationRow(model)
                try db.execute(
                    sql: "INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = MAX(value, excluded.value)",
                    arguments: [row, target]
                )
                return UInt64(max(0, try Int64.fetchOne(db, sql: "SELECT value FROM meta WHERE name = ?", arguments: [row]) ?? 0))
            }
        } catch {
            throw .write(reason: "\(error)")
        }
    }

    static func generationRow(_ model: String) -> String { "generation:" + model }
}
