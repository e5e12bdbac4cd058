/// A policy file problem, located by file and key path.
public enum ConfigError: Error, CustomStringConvertible, Sendable {
    case unreadable(file: String, reason: String)
    case invalid(path: String, message: String)
    case located(file: String, path: String, message: String)

    public var message: String {
        switch self {
        case .unreadable(_, let reason): reason
        case .invalid(_, let message), .located(_, _, let message): message
        }
    }

    public var description: String {
        switch self {
        case .unreadable(let file, let reason): "\(file): \(reason)"
        case .invalid(let path, let message): path.isEmpty ? message : "\(path): \(message)"
        case .located(let file, let path, let message): path.isEmpty ? "\(file): \(message)" : "\(file): \(path): \(message)"
        }
    }
}
