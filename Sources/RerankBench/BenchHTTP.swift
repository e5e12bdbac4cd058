import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle

enum BenchHTTP {
    /// GETs a JSON object; `nil` when unreachable or not an object.
    static func getJSON(_ url: String, client: HTTPClient = .shared) async -> [String: Any]? {
        guard let response = try? await client.execute(HTTPClientRequest(url: url), timeout: .seconds(10)),
            let body = try? await response.body.collect(upTo: 16 << 20)
        else { return nil }
        return (try? JSONSerialization.jsonObject(with: Data(buffer: body))) as? [String: Any]
    }

    /// Waits until `url` answers 2xx, up to `timeout`.
    static func waitReady(_ url: String, timeout: Duration = .seconds(30)) async -> Bool {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while clock.now < deadline {
            if let response = try? await HTTPClient.shared.execute(HTTPClientRequest(url: url), timeout: .seconds(2)),
                response.status.code < 300
            {
                _ = try? await response.body.collect(upTo: 1 << 20)
                return true
            }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return false
    }

    /// A client sized for `concurrency` parallel connections to one host.
    static func makeClient(concurrency: Int) -> HTTPClient {
        HTTPClient(
            eventLoopGroupProvider: .singleton,
            configuration: .init(connectionPool: .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: max(8, concurrency)))
        )
    }
}

/// Runs simulated GPUs in this process on free loopback ports until `body` returns.
func withSimulatedGPUs<T: Sendable>(_ gpus: [SimulatedGPU], _ body: @Sendable ([String]) async throws -> T) async throws -> T {
    var logger = Logger(label: "sim-gpu")
    logger.logLevel = .warning
    let (ports, continuation) = AsyncStream.makeStream(of: (Int, Int).self)
    let apps = gpus.enumerated().map { index, gpu in
        let router = Router()
        gpu.addRoutes(to: router)
        return Application(
            router: router,
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in continuation.yield((index, channel.localAddress?.port ?? 0)) },
            logger: logger
        )
    }
    let group = ServiceGroup(configuration: .init(services: apps, logger: logger))
    return try await withThrowingTaskGroup(of: T?.self) { tasks in
        tasks.addTask {
            try await group.run()
            return nil
        }
        var urls = [String](repeating: "", count: gpus.count)
        var iterator = ports.makeAsyncIterator()
        for _ in gpus {
            guard let (index, port) = await iterator.next() else { break }
            urls[index] = "http://127.0.0.1:\(port)"
        }
        defer { continuation.finish() }
        do {
            let result = try await body(urls)
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            return result
        } catch {
            await group.triggerGracefulShutdown()
            try? await tasks.waitForAll()
            throw error
        }
    }
}
