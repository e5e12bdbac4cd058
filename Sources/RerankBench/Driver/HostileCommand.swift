import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import Synchronization

/// Measures what hostile bodies cost a proxy: the time to answer an 8 MiB `{"documents":[{},{},…]}` body,
/// and the cache-hit latency with and without several such bodies arriving at the same time.
struct HostileCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hostile",
        abstract: "Time to a 4xx for a huge [{},…] body, and cache-hit p50/p99 while such bodies arrive; the last line is JSON."
    )

    @Option(help: "The proxy's rerank URL, e.g. http://127.0.0.1:8080/v1/rerank.") var url: String
    @Option(help: "Seconds per phase (hits alone, then hits under hostile bodies).") var seconds = 10.0
    @Option(help: "Concurrent cache-hit clients.") var concurrency = 4
    @Option(help: "Hostile bodies in flight at once during the second phase.") var bodies = 4
    @Option(help: "Size of each hostile body, bytes.") var bodyBytes = 8 << 20
    @Option(help: "Documents in the cache-hit request.") var docs = 20
    @Option(help: "Model name to send.") var model: String?

    struct Report: Codable {
        var hostile_body_bytes: Int
        var hostile_status: Int
        var time_to_4xx_ms: [Double]
        var hits_alone: RunReport
        var hits_under_hostile: RunReport
        var hostile_answered: Int
        var hostile_mean_ms: Double
    }

    func run() async throws {
        let hostile = Self.emptyObjects(bytes: bodyBytes)
        let hit = RequestBodies.fixed(documents: docs, bytes: 500, corpus: Corpus(seed: 42), dialect: .documents, model: model).body(0)!
        let client = BenchHTTP.makeClient(concurrency: concurrency + bodies)

        // Warm the hit request, then time single hostile bodies on an idle proxy.
        _ = try await Self.post(client, url, hit)
        var times: [Double] = []
        var status = 0
        for _ in 0..<5 {
            let (code, ms) = try await Self.post(client, url, hostile)
            status = code
            times.append(ms)
        }

        let driver = LoadDriver(url: url, concurrency: concurrency, count: nil, duration: .milliseconds(Int64(seconds * 1000)))
        let alone = await driver.run(client: client) { _ in hit }

        let shared = Shared()
        let underHostile = await withTaskGroup(of: LoadDriver.Result?.self) { group in
            for _ in 0..<bodies {
                group.addTask {
                    while !shared.stop.load(ordering: .relaxed) {
                        guard let (_, ms) = try? await Self.post(client, url, hostile) else { continue }
                        shared.hostile.withLock { $0.count += 1; $0.totalMs += ms }
                    }
                    return nil
                }
            }
            group.addTask {
                // Let the hostile senders get going first.
                try? await Task.sleep(for: .milliseconds(200))
                let result = await driver.run(client: client) { _ in hit }
                shared.stop.store(true, ordering: .relaxed)
                return result
            }
            var measured: LoadDriver.Result?
            for await result in group { if let result { measured = result } }
            return measured ?? LoadDriver.Result()
        }
        try await client.shutdown()

        let (count, totalMs) = shared.hostile.withLock { $0 }
        let report = Report(
            hostile_body_bytes: hostile.readableBytes, hostile_status: status, time_to_4xx_ms: times.map { RunReport.round($0) },
            hits_alone: RunReport(name: "hits alone", result: alone, concurrency: concurrency),
            hits_under_hostile: RunReport(name: "hits with \(bodies) hostile bodies in flight", result: underHostile, concurrency: concurrency),
            hostile_answered: count, hostile_mean_ms: RunReport.round(count > 0 ? totalMs / Double(count) : 0)
        )
        print("hostile body: \(report.hostile_body_bytes) bytes → status \(status); time to answer (ms): \(report.time_to_4xx_ms)")
        print(report.hits_alone.table)
        print(report.hits_under_hostile.table)
        print("hostile bodies answered during phase 2: \(count), mean \(report.hostile_mean_ms) ms")
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        print(String(decoding: try encoder.encode(report), as: UTF8.self))
    }

    /// What the hostile senders and the measuring loop share.
    final class Shared: Sendable {
        let stop = Atomic(false)
        let hostile = Mutex((count: 0, totalMs: 0.0))
    }

    /// `{"query":"q","documents":[{},{},…]}` of about `bytes` bytes.
    static func emptyObjects(bytes: Int) -> ByteBuffer {
        let head = #"{"query":"q","documents":["#
        var buffer = ByteBuffer()
        buffer.reserveCapacity(bytes + 64)
        buffer.writeString(head)
        let count = max(1, (bytes - head.utf8.count - 2) / 3)
        for i in 0..<count { buffer.writeString(i == 0 ? "{}" : ",{}") }
        buffer.writeString("]}")
        return buffer
    }

    /// POSTs a body; returns the status and the milliseconds to the whole answer.
    static func post(_ client: HTTPClient, _ url: String, _ body: ByteBuffer) async throws -> (Int, Double) {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "content-type", value: "application/json")
        request.body = .bytes(body)
        let clock = ContinuousClock()
        let start = clock.now
        let response = try await client.execute(request, timeout: .seconds(120))
        _ = try await response.body.collect(upTo: 64 << 20)
        return (Int(response.status.code), (clock.now - start).milliseconds)
    }
}
