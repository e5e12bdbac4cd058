import GRDB
import GRDBSQLite
import RerankCore

/// Binds and steps GRDB statements through the sqlite3 C API directly, for the two hot loops (the batched
/// read and the write-behind flush): GRDB's `StatementArguments` box every value and allocate a `Data`
/// per key, which the flush profile showed as most of its CPU. Only used on statements owned by
/// ``SQLiteCacheStore``, always reset after use.
extension Statement {
    private static let transient = unsafeBitCast(OpaquePointer(bitPattern: -1), to: sqlite3_destructor_type.self)

    func bind(_ key: CacheKey, at index: Int32) {
        var words = (key.w0.bigEndian, key.w1.bigEndian, key.w2.bigEndian, key.w3.bigEndian)
        withUnsafeBytes(of: &words) { bytes in
            _ = sqlite3_bind_blob(sqliteStatement, index, bytes.baseAddress, 32, Self.transient)
        }
    }

    func bind(_ value: Double, at index: Int32) {
        _ = sqlite3_bind_double(sqliteStatement, index, value)
    }

    func bind(_ value: Int64, at index: Int32) {
        _ = sqlite3_bind_int64(sqliteStatement, index, value)
    }

    /// Steps a statement that returns no rows, then resets it.
    func run(in db: Database) throws {
        let code = sqlite3_step(sqliteStatement)
        sqlite3_reset(sqliteStatement)
        guard code == SQLITE_DONE else { throw Self.error(code, db) }
    }

    /// Steps through the rows of `key, score, stored_at`, then resets.
    func forEachScore(in db: Database, _ body: (CacheKey, CachedScore) -> Void) throws {
        defer { sqlite3_reset(sqliteStatement) }
        while true {
            let code = sqlite3_step(sqliteStatement)
            if code == SQLITE_DONE { return }
            guard code == SQLITE_ROW else { throw Self.error(code, db) }
            let length = Int(sqlite3_column_bytes(sqliteStatement, 0))
            guard length == 32, let blob = sqlite3_column_blob(sqliteStatement, 0),
                let key = CacheKey(bytes: UnsafeRawBufferPointer(start: blob, count: length))
            else { continue }
            body(key, CachedScore(score: sqlite3_column_double(sqliteStatement, 1), storedAt: sqlite3_column_int64(sqliteStatement, 2)))
        }
    }

    private static func error(_ code: Int32, _ db: Database) -> DatabaseError {
        DatabaseError(resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(db.sqliteConnection)))
    }
}
