import AsyncHTTPClient
import Foundation
import Histogram
import NIOCore
import NIOHTTP1
import Synchronization

/// A closed-loop HTTP load generator: `concurrency` workers each send a request, wait for the answer,
/// and send the next, until `count` requests or `duration` elapse.
///
/// Bodies come pre-rendered from `body(n)` so the driver spends its time on HTTP, not JSON.
struct LoadDriver: Sendable {
    struct Result: Sendable {
        var requests = 0
        var errors = 0
        var seconds = 0.0
        var latencyMicros = Histogram<UInt64>(numberOfSignificantValueDigits: .three)
        var rps: Double { seconds > 0 ? Double(requests) / seconds : 0 }

        /// Adds another run's requests, errors and latencies (not its seconds).
        mutating func merge(_ other: Result) {
            requests += other.requests
            errors += other.errors
            latencyMicros.add(other.latencyMicros)
        }

        func percentileMs(_ p: Double) -> Double {
            latencyMicros.totalCount == 0 ? 0 : Double(latencyMicros.valueAtPercentile(p)) / 1000
        }
    }

    var url: String
    var concurrency: Int
    var count: Int?
    var duration: Duration?
    var method: HTTPMethod = .POST
    var timeout: TimeAmount = .seconds(60)

    func run(client: HTTPClient, body: @escaping @Sendable (Int) -> ByteBuffer?) async -> Result {
        let shared = Shared()
        let clock = ContinuousClock()
        let start = clock.now
        let deadline = duration.map { start + $0 }
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<concurrency {
                group.addTask {
                    var local = Result()
                    while true {
                        let n = shared.next.add(1, ordering: .relaxed).oldValue
                        if let count, n >= count { break }
                        if let deadline, clock.now >= deadline { break }
                        var request = HTTPClientRequest(url: url)
                        request.method = method
                        if method == .POST {
                            guard let payload = body(n) else { break }
                            request.headers.add(name: "content-type", value: "application/json")
                            request.body = .bytes(payload)
                        }
                        let sent = clock.now
                        do {
                            let response = try await client.execute(request, timeout: timeout)
                            _ = try await response.body.collect(upTo: 64 << 20)
                            if response.status.code >= 400 { local.errors += 1 }
                        } catch {
                            local.errors += 1
                        }
                        let micros = (clock.now - sent).milliseconds * 1000
                        _ = local.latencyMicros.record(UInt64(max(1, micros)))
                        local.requests += 1
                    }
                    shared.merged.withLock { $0.merge(local) }
                }
            }
        }
        var result = shared.merged.withLock { $0 }
        result.seconds = (clock.now - start).milliseconds / 1000
        return result
    }

    /// State the workers share: the next request number and the merged result.
    private final class Shared: Sendable {
        let next = Atomic<Int>(0)
        let merged = Mutex(Result())
    }
}
