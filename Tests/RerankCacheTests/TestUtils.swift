import Foundation
import Logging
import RerankCore
import Synchronization

func testKey(_ n: Int) -> CacheKey {
    CacheKeyEncoder(model: "m", revision: "", settings: .init(), query: "q").key(document: "doc-\(n)")
}

func temporarySQLitePath() -> String {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rerank-proxy-tests-\(UUID().uuidString)")
    return directory.appendingPathComponent("scores.sqlite").path
}

/// A settable clock for TTL tests.
final class FakeClock: Sendable {
    private let seconds: Mutex<Int64>
    init(_ start: Int64) { seconds = Mutex(start) }
    var now: Int64 { seconds.withLock { $0 } }
    func advance(_ by: Int64) { seconds.withLock { $0 += by } }
}

let testLogger = Logger(label: "rerank-cache-tests")
