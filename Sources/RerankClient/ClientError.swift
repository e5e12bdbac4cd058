/// Why a `rerank-proxy rerank` run stopped. Messages never contain API keys or documents.
public enum ClientError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A line of the input file is not a request (1-based line number; 0: the file cannot be read).
    case input(line: Int, message: String)
    /// The output file or its sidecar cannot be used.
    case output(String)
    /// The proxy refused a request (a 4xx other than 429, or a 5xx after every retry).
    case http(status: Int, message: String, context: String)
    /// The proxy could not be reached (after every retry), or answered something that is not the documented API.
    case transport(String)
    /// A job ended `failed` or `cancelled` on the server.
    case job(id: String, status: String, message: String)

    public var description: String {
        switch self {
        case .input(let line, let message): line > 0 ? "input line \(line): \(message)" : message
        case .output(let message): message
        case .http(let status, let message, let context): "\(context): HTTP \(status): \(message)"
        case .transport(let message): message
        case .job(let id, let status, let message): "job \(id) \(status)" + (message.isEmpty ? "" : ": \(message)")
        }
    }

    /// The process exit status for this error: 2 for bad input or output files, 1 otherwise.
    public var exitCode: Int32 {
        switch self {
        case .input, .output: 2
        default: 1
        }
    }
}
