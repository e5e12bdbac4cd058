import Foundation

/// Drives a fixed POST with wrk (faster than any in-process driver on 2 cores) and parses its output.
enum Wrk {
    static var path: String? {
        ["/usr/bin/wrk", "/usr/local/bin/wrk"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    static func run(url: String, body: [UInt8], connections: Int, seconds: Int, threads: Int = 1) throws -> RunReport? {
        guard let path else { return nil }
        let script = FileManager.default.temporaryDirectory.appendingPathComponent("rerank-bench-\(UUID().uuidString).lua").path
        let lua = """
            wrk.method = "POST"
            wrk.headers["Content-Type"] = "application/json"
            wrk.body = [==[\(String(decoding: body, as: UTF8.self))]==]
            """
        try lua.write(toFile: script, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: script) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = ["-t\(threads)", "-c\(connections)", "-d\(seconds)s", "--latency", "-s", script, url]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return parse(output, seconds: Double(seconds), connections: connections)
    }

    static func parse(_ output: String, seconds: Double, connections: Int) -> RunReport? {
        var result = RunReport(name: "wrk", result: LoadDriver.Result(), concurrency: connections)
        result.seconds = seconds
        for line in output.split(separator: "\n").map({ $0.trimmingCharacters(in: .whitespaces) }) {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            if line.hasPrefix("Requests/sec:"), fields.count >= 2 { result.rps = Double(fields[1]) ?? 0 }
            if line.contains("requests in"), let n = Int(fields.first ?? "") { result.requests = n }
            if line.hasPrefix("Non-2xx"), let n = Int(fields.last ?? "") { result.errors += n }
            if line.hasPrefix("Socket errors:") {
                result.errors += line.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }.reduce(0, +)
            }
            if fields.count == 2, let ms = milliseconds(fields[1]) {
                switch fields[0] {
                case "50%": result.p50_ms = ms
                case "90%": result.p90_ms = ms
                case "99%": result.p99_ms = ms
                default: break
                }
            }
        }
        return result.rps > 0 ? result : nil
    }

    static func milliseconds(_ text: String) -> Double? {
        for (unit, factor) in [("us", 0.001), ("ms", 1.0), ("s", 1000.0)] where text.hasSuffix(unit) {
            if let value = Double(text.dropLast(unit.count)) { return value * factor }
        }
        return nil
    }
}
