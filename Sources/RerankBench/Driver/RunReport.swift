import Foundation

/// What one `run` measured, printed as a table and, on the last line, as one JSON object.
struct RunReport: Codable, Sendable {
    var name: String
    var requests: Int
    var rps: Double
    var p50_ms: Double
    var p90_ms: Double
    var p99_ms: Double
    var errors: Int
    var backend_pairs: Int?
    var backend_calls: Int?
    var unique_pairs: Int?
    var hit_ratio: Double?
    var concurrency: Int
    var seconds: Double

    init(name: String, result: LoadDriver.Result, concurrency: Int) {
        self.name = name
        requests = result.requests
        rps = (result.rps * 10).rounded() / 10
        p50_ms = Self.round(result.percentileMs(50))
        p90_ms = Self.round(result.percentileMs(90))
        p99_ms = Self.round(result.percentileMs(99))
        errors = result.errors
        self.concurrency = concurrency
        seconds = Self.round(result.seconds)
    }

    static func round(_ value: Double) -> Double { (value * 1000).rounded() / 1000 }

    var table: String {
        var rows = [
            ("requests", "\(requests)"), ("seconds", "\(seconds)"), ("concurrency", "\(concurrency)"), ("req/s", "\(rps)"),
            ("p50 ms", "\(p50_ms)"), ("p90 ms", "\(p90_ms)"), ("p99 ms", "\(p99_ms)"), ("errors", "\(errors)"),
        ]
        if let backend_pairs { rows.append(("backend pairs", "\(backend_pairs)")) }
        if let backend_calls { rows.append(("backend calls", "\(backend_calls)")) }
        if let unique_pairs { rows.append(("unique pairs", "\(unique_pairs)")) }
        if let hit_ratio { rows.append(("hit ratio", String(format: "%.3f", hit_ratio))) }
        let width = rows.map(\.0.count).max() ?? 0
        return "\(name)\n" + rows.map { "  " + $0.0.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + $0.1 }.joined(separator: "\n")
    }

    var json: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self)
    }
}
