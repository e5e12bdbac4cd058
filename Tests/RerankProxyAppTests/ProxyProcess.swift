import Foundation
import Testing

// Helpers for tests that run the real `rerank-proxy serve` binary in a child process.

/// The `rerank-proxy` executable built beside this test bundle (or in the package's `.build/debug`).
func proxyBinary() -> String? {
    let besideTests = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("rerank-proxy").path
    let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let debug = packageRoot.appendingPathComponent(".build/debug/rerank-proxy").path
    return [besideTests, debug].first { FileManager.default.isExecutableFile(atPath: $0) }
}

/// Starts `rerank-proxy serve --config <config> --log-level info` with stdout and stderr appended to `log`.
func startProxy(binary: String, config: String, log: String) throws -> Process {
    let child = Process()
    child.executableURL = URL(fileURLWithPath: binary)
    child.arguments = ["serve", "--config", config, "--log-level", "info"]
    _ = FileManager.default.createFile(atPath: log, contents: nil)
    let handle = try #require(FileHandle(forWritingAtPath: log))
    child.standardOutput = handle
    child.standardError = handle
    try child.run()
    return child
}

/// Waits for the child's "rerank-proxy listening" log line and returns the port in it.
func listeningPort(log: String, child: Process) async throws -> Int {
    let deadline = ContinuousClock.now + .seconds(60)
    while ContinuousClock.now < deadline, child.isRunning {
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        // `… address=[IPv4]127.0.0.1/127.0.0.1:43567 [RerankProxyApp] rerank-proxy listening`: the last `:digits`.
        if let line = text.split(separator: "\n").first(where: { $0.contains("rerank-proxy listening") }),
            let port = line.matches(of: /:(\d+)/).last.flatMap({ Int($0.1) })
        {
            return port
        }
        try await Task.sleep(for: .milliseconds(20))
    }
    throw ProxyProcessError.didNotStart(tail(log))
}

func tail(_ path: String) -> String {
    String(((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").suffix(3000))
}

enum ProxyProcessError: Error {
    case didNotStart(String)
}
