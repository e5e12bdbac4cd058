import Foundation

/// A duration written in the policy file as `<number><unit>` with unit `ms`, `s`, `m`, `h` or `d`
/// (`30s`, `1.5h`, `30d`), or a bare `0`.
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
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86400)]
        for (unit, seconds) in units where trimmed.hasSuffix(unit) {
            let number = trimmed.dropLast(unit.count)
            // "ms" ends with "s": only accept when what is left is a number.
            guard let value = Double(number), value >= 0, value.isFinite else { continue }
            self.init(.milliseconds(Int64((value * seconds * 1000).rounded())), text: trimmed)
            return
        }
        throw ConfigError.invalid(path: "", message: "\"\(text)\" is not a duration (use a number with ms, s, m, h or d, e.g. 30s)")
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

