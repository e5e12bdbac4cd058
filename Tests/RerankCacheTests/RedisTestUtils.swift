import Foundation
import Synchronization
import TestSupport

@testable import RerankCache

/// A prefix no other test uses, so tests can share one Redis.
func uniquePrefix() -> String { "rrtest:\(UUID().uuidString.prefix(8)):" }

/// Runs `commands` on a fresh connection (test side: INFO, PTTL, raw SET/GET).
func redisRun(_ url: String, _ commands: [[String]]) throws -> [RedisReply] {
    try redisRunBytes(url, commands.map { $0.map { Array($0.utf8) } })
}

func redisRunBytes(_ url: String, _ commands: [[[UInt8]]]) throws -> [RedisReply] {
    let handle = try RedisConnectionHandle.connect(to: RedisEndpoint(url: url), timeout: .seconds(2))
    defer { handle.close() }
    return try handle.pipeline(commands)
}

/// `calls` of one command in `INFO commandstats` (`cmdstat_mget:calls=3,...`).
func commandCalls(_ url: String, _ command: String) throws -> Int {
    guard let text = try redisRun(url, [["INFO", "commandstats"]]).first?.text else { return 0 }
    for line in text.split(whereSeparator: \.isNewline) where line.hasPrefix("cmdstat_\(command):calls=") {
        let value = line.dropFirst("cmdstat_\(command):calls=".count).prefix { $0.isNumber }
        return Int(value) ?? 0
    }
    return 0
}
