import Foundation

/// A duration written in the policy file as `<number><unit>` with unit `us`, `ms`, `s`, `m`, `h` or `d`
/// (`500us`, `1.5ms`, `30s`, `1.5h`, `30d`), or a bare `0`; kept to the microsecond.
public struct DurationValue: Decodable, Sendable, Equatable, CustomStringConvertible {
    public var duration: Duration
    private var text: String

    public init(_ duration: Duration, text: String) {
        self.duration = duration
        self.text = text
    }

    public init(parsing text: String) throws(ConfigError) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed == "0" {
            self.init(.zero, text: "0")
            return
        }
        let units: [(String, Double)] = [("us", 0.000_001), ("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86400)]
        for (unit, seconds) in units where trimmed.hasSuffix(unit) {
            let number = trimmed.dropLast(unit.count)
            // "ms" and "us" end with "s": only accept when what is left is a number.
            guard let value = Double(number), value >= 0, value.isFinite, value * seconds < 1e12 else { continue }
            self.init(.microseconds(Int64((value * seconds * 1_000_000).rounded())), text: trimmed)
            return
        }
        throw ConfigError.invalid(path: "", message: "\"\(text)\" is not a duration (use a number with us, ms, s, m, h or d, e.g. 30s)")
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let number = try? container.decode(Int.self), number == 0 {
            self.init(.zero, text: "0")
            return
        }
        let text = try container.decode(String.self)
        do {
            try self.init(parsing: text)
        } catch {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: error.message)
        }
    }

    public var seconds: Int64 { duration.components.seconds }
    public var description: String { text }
}

