import Foundation

/// A coding key that can name any key, for finding keys a config struct does not know.
struct ConfigKey: CodingKey {
    var stringValue: String
    var intValue: Int?
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) {
        self.stringValue = "\(intValue)"
        self.intValue = intValue
    }
}

extension Decoder {
    /// Throws for any key not in `known`, so a typo (`sotre:`) is an error instead of a silent default.
    func rejectUnknownKeys<K: CodingKey & CaseIterable>(_: K.Type) throws {
        let container = try container(keyedBy: ConfigKey.self)
        let known = Set(K.allCases.map(\.stringValue))
        for key in container.allKeys where !known.contains(key.stringValue) {
            throw DecodingError.dataCorrupted(.init(
                codingPath: codingPath + [key],
                debugDescription: "unknown key (expected one of: \(K.allCases.map(\.stringValue).joined(separator: ", ")))"
            ))
        }
    }
}

extension KeyedDecodingContainer {
    /// A string with `${VAR}` and `${VAR:-default}` replaced from the environment.
    func decodeExpanded(_ key: Key, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> String? {
        guard let raw = try decodeIfPresent(String.self, forKey: key) else { return nil }
        do {
            return try expandEnvironment(raw, environment: environment)
        } catch {
            throw DecodingError.dataCorruptedError(forKey: key, in: self, debugDescription: error.message)
        }
    }
}

/// `raw` with `${VAR}` and `${VAR:-default}` replaced from `environment`.
/// - Throws: ``ConfigError`` for an unclosed `${` or an unset variable without a default.
func expandEnvironment(_ raw: String, environment: [String: String]) throws(ConfigError) -> String {
    var output = ""
    var rest = Substring(raw)
    while let start = rest.range(of: "${") {
        output += rest[..<start.lowerBound]
        guard let end = rest[start.upperBound...].firstIndex(of: "}") else {
            throw .invalid(path: "", message: "unclosed ${ in \"\(raw)\"")
        }
        let expression = rest[start.upperBound..<end]
        let name: Substring
        let fallback: Substring?
        if let dash = expression.range(of: ":-") {
            name = expression[..<dash.lowerBound]
            fallback = expression[dash.upperBound...]
        } else {
            name = expression
            fallback = nil
        }
        if let value = environment[String(name)], !value.isEmpty {
            output += value
        } else if let fallback {
            output += fallback
        } else {
            throw .invalid(path: "", message: "environment variable \(name) is not set (write ${\(name):-} to make it optional)")
        }
        rest = rest[rest.index(after: end)...]
    }
    return output + rest
}
