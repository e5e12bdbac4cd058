import Foundation
import RerankCache
import RerankCore

// MARK: - export / import (format: CacheExportFormat)

extension CacheAdmin {
    /// Writes the store's scores (all, or one model's) to `path`, page by page: never the whole cache in memory.
    /// Returns how many scores were written.
    ///
    /// The file is written as `path.partial` and renamed to `path` only once complete: an export that fails part-way
    /// (Redis gone, disk full) leaves no shorter file that would import without complaint, and an earlier export
    /// at `path` stays whole.
    /// - Parameter force: export a `model` the policy does not list (e.g. one removed from it); otherwise such a
    ///   name (a typo) is refused instead of writing an empty export.
    public func export(
        to path: String, model: String? = nil, force: Bool = false, now: Int64 = Int64(Date().timeIntervalSince1970)
    ) async throws(Failure) -> Int {
        if let model, !force, !models.contains(model) { throw .unknownModel(model, known: models) }
        let partial = path + ".partial"
        guard FileManager.default.createFile(atPath: partial, contents: nil), let file = FileHandle(forWritingAtPath: partial) else {
            throw .file(path: partial, reason: "cannot create the file")
        }
        let count: Int
        do throws(Failure) {
            count = try await writeExport(to: file, path: partial, model: model, now: now)
            do { try file.synchronize() } catch { throw Failure.file(path: partial, reason: "\(error)") }
        } catch {
            try? file.close()
            unlink(partial)
            throw error
        }
        try? file.close()
        guard rename(partial, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(partial)
            throw .file(path: path, reason: "cannot rename \(partial) to it: \(reason)")
        }
        return count
    }

    private func writeExport(to file: FileHandle, path: String, model: String?, now: Int64) async throws(Failure) -> Int {
        let generations: [String: UInt64]
        do { generations = try await store.generations(models: model.map { [$0] } ?? models) } catch { throw .store(error) }
        let header = CacheExportFormat.Header(
            format: CacheExportFormat.name, version: CacheExportFormat.version, store: storeName, exportedAt: now,
            models: Dictionary(uniqueKeysWithValues: models.map { ($0, Hex.word(CacheKey.modelTag($0))) }), model: model,
            generations: generations.isEmpty ? nil : generations
        )
        try write(CacheExportFormat.headerLine(header) + "\n", to: file, path: path)
        let tag = model.map(CacheKey.modelTag)
        var cursor: String? = ""
        var count = 0
        while let current = cursor {
            let page: CacheExportPage
            do { page = try await store.exportPage(tag: tag, cursor: current) } catch { throw .store(error) }
            var text = ""
            text.reserveCapacity(page.entries.count * 110)
            for entry in page.entries { CacheExportFormat.append(entry, to: &text) }
            try write(text, to: file, path: path)
            count += page.entries.count
            cursor = page.next
        }
        return count
    }

    public struct Imported: Sendable, Equatable {
        /// Score lines in the file.
        public var read: Int
        /// Scores written (the rest had expired under this store's TTL).
        public var written: Int
        /// Score lines of models this policy does not serve (by model tag): imported all the same (another policy
        /// on this store may serve them), but no proxy on this policy looks them up.
        public var otherModels = 0

        public var summary: String {
            "imported \(written) of \(read) scores (\(read - written) already expired under this policy's ttl)"
                + (otherModels > 0 ? "; \(otherModels) of the file's scores belong to models this policy does not serve" : "")
        }
    }

    /// Reads `path` twice, streaming: first every line is checked (a bad one stops the import before anything is
    /// written, naming its line number), then the scores are written in batches of `batchSize`, then each model's
    /// generation in this store is raised to the file's (the generation is part of the keys; a lower one here would
    /// leave the imported scores unreachable, and a higher one, a purge here after the export, keeps them so).
    public func importFile(_ path: String, batchSize: Int = 1_000) async throws(Failure) -> Imported {
        let (header, read) = try validate(path)
        var reader = try LineReader(path: path)
        defer { reader.close() }
        _ = try reader.next(path: path)  // the header, checked above
        let decoder = JSONDecoder()
        var batch: [ExportedScore] = []
        batch.reserveCapacity(batchSize)
        var written = 0
        var otherModels = 0
        let served = Set(models.map(CacheKey.modelTag))
        while let (_, line) = try reader.next(path: path) {
            guard !line.isEmpty, let entry = try? CacheExportFormat.entry(line, decoder: decoder) else { continue }
            if !served.contains(entry.key.w0) { otherModels += 1 }
            batch.append(entry)
            if batch.count >= batchSize {
                written += try await importBatch(batch)
                batch.removeAll(keepingCapacity: true)
            }
        }
        written += try await importBatch(batch)
        for (model, generation) in (header.generations ?? [:]).sorted(by: { $0.key < $1.key }) where generation > 0 {
            do { _ = try await store.raiseGeneration(model: model, to: generation) } catch { throw .store(error) }
        }
        return Imported(read: read, written: written, otherModels: otherModels)
    }

    /// Checks the header and every score line of `path`; returns the header and how many score lines it has.
    func validate(_ path: String) throws(Failure) -> (header: CacheExportFormat.Header, scores: Int) {
        var reader = try LineReader(path: path)
        defer { reader.close() }
        guard let (_, first) = try reader.next(path: path) else { throw .badLine(path: path, line: 1, reason: "the file is empty") }
        let header: CacheExportFormat.Header
        do { header = try CacheExportFormat.header(first) } catch { throw .badLine(path: path, line: 1, reason: error.reason) }
        let decoder = JSONDecoder()
        var count = 0
        while let (number, line) = try reader.next(path: path) {
            if line.isEmpty { continue }
            do { _ = try CacheExportFormat.entry(line, decoder: decoder) } catch { throw .badLine(path: path, line: number, reason: error.reason) }
            count += 1
        }
        return (header, count)
    }

    private func importBatch(_ batch: [ExportedScore]) async throws(Failure) -> Int {
        guard !batch.isEmpty else { return 0 }
        do { return try await store.importScores(batch) } catch { throw .store(error) }
    }

    private func write(_ text: String, to file: FileHandle, path: String) throws(Failure) {
        do { try file.write(contentsOf: Data(text.utf8)) } catch { throw .file(path: path, reason: "\(error)") }
    }
}

/// Reads a file line by line in 1 MiB chunks (a line may be split across chunks), numbering lines from 1.
///
/// A line longer than `maxLineBytes` is an error naming it, not a buffer that grows with the file: a score line is
/// about 120 bytes and a header a few KB, so a file with no newline in it is not an export.
struct LineReader {
    private let file: FileHandle
    private let maxLineBytes: Int
    private var buffer: [UInt8] = []
    private var start = 0
    private var number = 0
    private var atEnd = false

    static let defaultMaxLineBytes = 4 << 20

    init(path: String, maxLineBytes: Int = LineReader.defaultMaxLineBytes) throws(CacheAdmin.Failure) {
        guard let file = FileHandle(forReadingAtPath: path) else { throw .file(path: path, reason: "cannot open the file for reading") }
        self.file = file
        self.maxLineBytes = max(1, maxLineBytes)
    }

    /// The next line without its `\n` (and a trailing `\r`), or `nil` at the end.
    mutating func next(path: String) throws(CacheAdmin.Failure) -> (number: Int, line: Substring)? {
        while true {
            if let newline = buffer[start...].firstIndex(of: UInt8(ascii: "\n")) {
                return take(upTo: newline, skip: 1)
            }
            if atEnd {
                guard start < buffer.count else { return nil }
                return take(upTo: buffer.count, skip: 0)
            }
            guard buffer.count - start <= maxLineBytes else {
                throw .badLine(path: path, line: number + 1, reason: "longer than \(maxLineBytes) bytes: not a cache export line")
            }
            let chunk: Data?
            do { chunk = try file.read(upToCount: min(1 << 20, maxLineBytes + 1)) } catch { throw .file(path: path, reason: "\(error)") }
            buffer.removeFirst(start)
            start = 0
            if let chunk, !chunk.isEmpty { buffer.append(contentsOf: chunk) } else { atEnd = true }
        }
    }

    private mutating func take(upTo end: Int, skip: Int) -> (number: Int, line: Substring) {
        var stop = end
        if stop > start, buffer[stop - 1] == UInt8(ascii: "\r") { stop -= 1 }
        let line = String(decoding: buffer[start..<stop], as: UTF8.self)[...]
        start = end + skip
        number += 1
        return (number, line)
    }

    func close() { try? file.close() }
}
