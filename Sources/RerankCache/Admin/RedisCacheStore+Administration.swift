import Foundation
import RerankCore

/// Walks the keyspace with `SCAN MATCH <prefix>… COUNT 1000` (never `KEYS`, so Redis keeps serving the proxies
/// between pages). A score key is `prefix + 32 key bytes` (``RedisKeyspace``), and a model's keys are
/// `prefix + its 8-byte tag + 24 bytes`; keys of any other length (leases `prefix + "lease:" + 32 bytes`, job
/// hashes) or under the generation and job infixes are never counted, exported or deleted.
extension RedisCacheStore: CacheAdministration {
    public func stats(tags: [UInt64]) async throws(CacheError) -> CacheAdminStats {
        var perTag = Dictionary(uniqueKeysWithValues: tags.map { ($0, 0) })
        var entries = 0
        var other = 0
        var cursor = "0"
        repeat {
            let page = try await scan(cursor: cursor, tag: nil)
            for key in page.keys {
                let tag = keyspace.tag(ofScoreKey: key)
                entries += 1
                if let tag, perTag[tag] != nil { perTag[tag, default: 0] += 1 } else { other += 1 }
            }
            cursor = page.next
        } while cursor != "0"
        let info = try await run([[Array("INFO".utf8), Array("memory".utf8)]])
        let used = info.first?.text.flatMap(Self.usedMemory) ?? 0
        return CacheAdminStats(entries: entries, perTag: perTag, otherEntries: other, bytes: used, bytesScope: "the whole redis server's used_memory")
    }

    /// `UNLINK`s each `SCAN` page's score keys of `tag` as it comes; returns how many Redis deleted.
    public func purge(tag: UInt64) async throws(CacheError) -> Int {
        var deleted = 0
        var cursor = "0"
        repeat {
            let page = try await scan(cursor: cursor, tag: tag)
            if !page.keys.isEmpty {
                let replies = try await run([[Array("UNLINK".utf8)] + page.keys])
                if case .integer(let n)? = replies.first { deleted += Int(n) }
            }
            cursor = page.next
        } while cursor != "0"
        return deleted
    }

    /// One `SCAN` page, then one pipeline of `MGET` (the values) and a `PTTL` per key. `storedAt` is
    /// now − (ttl − PTTL) when the store has a TTL and the key one too; otherwise `nil`. Values that are not
    /// scores, and keys deleted between the two round trips, are left out.
    public func exportPage(tag: UInt64?, cursor: String) async throws(CacheError) -> CacheExportPage {
        let page = try await scan(cursor: cursor.isEmpty ? "0" : cursor, tag: tag)
        let next = page.next == "0" ? nil : page.next
        guard !page.keys.isEmpty else { return CacheExportPage(entries: [], next: next) }
        let commands = [[RedisKeyspace.mgetName] + page.keys] + page.keys.map { [Array("PTTL".utf8), $0] }
        let replies = try await run(commands)
        guard case .array(let values)? = replies.first, values.count == page.keys.count, replies.count == page.keys.count + 1 else {
            throw .query(reason: "redis answered MGET of an export page with \(String(describing: replies.first))")
        }
        let nowMilliseconds = now() * 1000
        let ttl = keyspace.ttlMilliseconds
        var entries: [ExportedScore] = []
        entries.reserveCapacity(page.keys.count)
        for (i, key) in page.keys.enumerated() {
            guard case .string(let bytes) = values[i], let score = RedisKeyspace.decode(bytes),
                let cacheKey = CacheKey(bytes: key[keyspace.prefix.count...])
            else { continue }
            var storedAt: Int64?
            if ttl > 0, case .integer(let remaining) = replies[i + 1], remaining >= 0 {
                // Never later than now: a key written under a longer TTL than this policy's has more left than `ttl`.
                storedAt = (nowMilliseconds - max(0, ttl - remaining)) / 1000
            }
            entries.append(ExportedScore(key: cacheKey, score: score, storedAt: storedAt))
        }
        return CacheExportPage(entries: entries, next: next)
    }

    /// Pipelined `SET key value PX remaining`, where remaining is this store's TTL minus the entry's age
    /// (entries already past it are skipped); a plain `SET` when the TTL is 0.
    public func importScores(_ entries: [ExportedScore]) async throws(CacheError) -> Int {
        let nowMilliseconds = now() * 1000
        let ttl = keyspace.ttlMilliseconds
        var commands: [[[UInt8]]] = []
        commands.reserveCapacity(entries.count)
        for entry in entries {
            var command: [[UInt8]] = [RedisKeyspace.set, keyspace.valueKey(entry.key), RedisKeyspace.encode(entry.score)]
            if ttl > 0 {
                let age = entry.storedAt.map { max(0, nowMilliseconds - $0 * 1000) } ?? 0
                guard ttl - age > 0 else { continue }
                command += [RedisKeyspace.px, Array(String(ttl - age).utf8)]
            }
            commands.append(command)
        }
        var start = 0
        while start < commands.count {
            let end = min(start + configuration.pipelineSize, commands.count)
            _ = try await run(Array(commands[start..<end]))
            start = end
        }
        return commands.count
    }

    // MARK: - Helpers

    /// One `SCAN` step over the score keys under the prefix (and `tag`, when given): the next cursor
    /// (`"0"` when done) and the page's score keys, whole (prefix included).
    func scan(cursor: String, tag: UInt64?) async throws(CacheError) -> (next: String, keys: [[UInt8]]) {
        var pattern = keyspace.prefix
        if let tag { pattern += withUnsafeBytes(of: tag.bigEndian) { Array($0) } }
        let command = [Array("SCAN".utf8), Array(cursor.utf8), Array("MATCH".utf8), RedisKeyspace.globEscaped(pattern) + [UInt8(ascii: "*")],
                       Array("COUNT".utf8), Array("1000".utf8)]
        let replies = try await run([command])
        guard case .array(let parts)? = replies.first, parts.count == 2, let next = parts[0].text, case .array(let found) = parts[1] else {
            throw .query(reason: "redis answered SCAN with \(String(describing: replies.first))")
        }
        let keyspace = self.keyspace
        let keys = found.compactMap { reply -> [UInt8]? in
            guard case .string(let key) = reply, keyspace.tag(ofScoreKey: key) != nil else { return nil }
            return key
        }
        return (next, keys)
    }

    /// Runs `commands` in one pipeline; an error reply is thrown (the admin commands expect none).
    private func run(_ commands: [[[UInt8]]]) async throws(CacheError) -> [RedisReply] {
        let replies = try await pool.withConnection { try $0.pipeline(commands) }
        for reply in replies {
            if case .error(let message) = reply { throw .write(reason: "redis: \(message)") }
        }
        return replies
    }

    /// `used_memory:<n>` of an `INFO memory` reply.
    static func usedMemory(_ info: String) -> Int64? {
        for line in info.split(whereSeparator: \.isNewline) where line.hasPrefix("used_memory:") {
            return Int64(line.dropFirst("used_memory:".count).trimmingCharacters(in: .whitespaces))
        }
        return nil
    }
}

extension RedisKeyspace {
    /// Infixes of the keys that are not scores and can be `prefix` + 32 bytes long (generations, jobs; lease keys
    /// and the `jobs` indexes never are); a 32-byte remainder starting with one is never treated as a score. (A
    /// model whose tag happens to start with one, odds 2^-32 per name, could then not be purged by the CLI; its
    /// scores still stop being served after the purge's generation step.)
    static let reservedInfixes = [Array("gen:".utf8), Array("job:".utf8)]

    /// The model tag of a score key (`prefix + 32 bytes`); `nil` for any other key under the prefix.
    func tag(ofScoreKey key: [UInt8]) -> UInt64? {
        guard key.count == prefix.count + 32, key.starts(with: prefix) else { return nil }
        let rest = key[prefix.count...]
        guard !Self.reservedInfixes.contains(where: { rest.starts(with: $0) }) else { return nil }
        return rest.prefix(8).reduce(0) { $0 << 8 | UInt64($1) }
    }

    /// `bytes` as a `SCAN MATCH` glob that matches them literally: `*`, `?`, `[`, `]` and `\` get a backslash.
    static func globEscaped(_ bytes: [UInt8]) -> [UInt8] {
        var escaped: [UInt8] = []
        escaped.reserveCapacity(bytes.count + 8)
        for byte in bytes {
            if byte == UInt8(ascii: "*") || byte == UInt8(ascii: "?") || byte == UInt8(ascii: "[") || byte == UInt8(ascii: "]")
                || byte == UInt8(ascii: "\\")
            {
                escaped.append(UInt8(ascii: "\\"))
            }
            escaped.append(byte)
        }
        return escaped
    }
}
