import Foundation
import RerankCache
import RerankCore

/// The file `rerank-proxy cache export` writes and `cache import` reads: NDJSON, one header line, then one
/// line per score.
///
/// ```
/// {"format":"rerank-proxy-cache","version":1,"store":"sqlite","exported_at":1764120000,"models":{"bge-reranker-v2-m3":"5f0c…"}}
/// {"k":"5f0c…64 hex key bytes…","s":"3fe4c8b439581062","t":1764119000}
/// {"k":"…","s":"bfd3333333333333","t":null}
/// ```
/// `k` is the 32-byte ``CacheKey`` in hex (model tag first), `s` the 16 hex digits of the score's IEEE-754 bit
/// pattern (so it round-trips bit-exactly), `t` when it was stored (unix seconds) or `null` when the source did
/// not know. The header's `models` maps the exporting policy's model names to their 16-hex-digit tags, and
/// `generations` (when any was purged) their cache generations in the exporting store.
enum CacheExportFormat {
    static let name = "rerank-proxy-cache"
    static let version = 1

    struct Header: Codable, Equatable {
        var format: String
        var version: Int
        var store: String
        var exportedAt: Int64
        /// Model name → tag (16 hex digits).
        var models: [String: String]
        /// The only model exported (`--model`), or `nil` for all.
        var model: String?
        /// The exporting store's cache generation of each exported model that has one (purged at least once). The
        /// generation is part of every key (``CacheKeyEncoder``), so an import raises the importing store's
        /// generation to it: otherwise the imported scores would sit under keys no proxy looks up. `nil` in files
        /// written before this field existed.
        var generations: [String: UInt64]?

        enum CodingKeys: String, CodingKey {
            case format, version, store, models, model, generations
            case exportedAt = "exported_at"
        }
    }

    /// Why a line was refused.
    struct LineError: Error, Equatable {
        var reason: String
    }

    private struct Line: Decodable {
        var k: String
        var s: String
        var t: Int64?
    }

    static func headerLine(_ header: Header) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(header)) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    /// Parses and checks the header line: the format name and a version this build reads.
    static func header(_ line: Substring) throws(LineError) -> Header {
        let header: Header
        do {
            header = try JSONDecoder().decode(Header.self, from: Data(line.utf8))
        } catch {
            throw LineError(reason: "not a rerank-proxy cache export header (\(error))")
        }
        guard header.format == name else { throw LineError(reason: "format is \"\(header.format)\", not \"\(name)\"") }
        guard header.version == version else { throw LineError(reason: "version \(header.version) is not supported (this build reads \(version))") }
        return header
    }

    /// One score line, appended to `out` with its newline.
    static func append(_ entry: ExportedScore, to out: inout String) {
        out += "{\"k\":\""
        out += entry.key.description
        out += "\",\"s\":\""
        out += Hex.word(entry.score.bitPattern)
        out += "\",\"t\":"
        out += entry.storedAt.map { String($0) } ?? "null"
        out += "}\n"
    }

    /// Parses one score line; refuses anything but an object with a 64-hex-digit `k`, a 16-hex-digit `s` that is a
    /// finite number and an integer or null `t`.
    static func entry(_ line: Substring, decoder: JSONDecoder) throws(LineError) -> ExportedScore {
        let parsed: Line
        do {
            parsed = try decoder.decode(Line.self, from: Data(line.utf8))
        } catch {
            throw LineError(reason: "not a score line {\"k\":…,\"s\":…,\"t\":…} (\(error))")
        }
        guard parsed.k.utf8.count == 64, let key = CacheKey(hex: parsed.k) else {
            throw LineError(reason: "\"k\" must be 64 hex digits, not \"\(parsed.k.prefix(80))\"")
        }
        guard parsed.s.utf8.count == 16, parsed.s.allSatisfy(\.isHexDigit), let bits = UInt64(parsed.s, radix: 16) else {
            throw LineError(reason: "\"s\" must be 16 hex digits (the score's IEEE-754 bits), not \"\(parsed.s.prefix(80))\"")
        }
        let score = Double(bitPattern: bits)
        // No backend score is NaN or infinite (the pool refuses them); a proxy would answer `null` for one.
        guard score.isFinite else { throw LineError(reason: "\"s\" is not a finite number (\(parsed.s)); no backend scores that") }
        return ExportedScore(key: key, score: score, storedAt: parsed.t)
    }
}
