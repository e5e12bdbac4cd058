/// Why a flight did not produce a key's value, and whether that answer holds for everyone waiting on it.
public struct FlightFailure: Sendable {
    public var error: any Error
    /// `true` when the failure belongs to the key itself (the backend refused this very document), so every
    /// request waiting on the key gets it; `false` when it was the flight's luck (a timeout, a backend fault),
    /// so a request that joined the flight tries the key again rather than fail for someone else's reason.
    public var belongsToKey: Bool

    public init(error: any Error, belongsToKey: Bool) {
        self.error = error
        self.belongsToKey = belongsToKey
    }
}
