#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The process's open-file limit (`RLIMIT_NOFILE`): every client connection, backend connection and database file
/// takes one descriptor, and at the limit the listener can accept nothing.
///
/// ```swift
/// let limit = FileDescriptorLimit.raiseToHardLimit()   // at start, in the executable
/// ```
public struct FileDescriptorLimit: Sendable, Equatable {
    /// The limit in force.
    public var soft: Int
    /// The most the soft limit may be raised to without privileges.
    public var hard: Int

    /// The current limit, or nil when it cannot be read.
    public static func current() -> FileDescriptorLimit? {
        var limit = rlimit()
        guard getrlimit(resource, &limit) == 0 else { return nil }
        return FileDescriptorLimit(soft: Int(clamping: limit.rlim_cur), hard: Int(clamping: limit.rlim_max))
    }

    /// Raises the soft limit to the hard limit (most systems start processes at 1024 with a far higher hard limit).
    /// - Returns: The limit in force afterwards, raised or not; nil when it cannot be read.
    @discardableResult
    public static func raiseToHardLimit() -> FileDescriptorLimit? {
        var limit = rlimit()
        guard getrlimit(resource, &limit) == 0 else { return nil }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            // An unlimited hard limit (macOS: RLIM_INFINITY) cannot be the soft one; 16 million descriptors is plenty.
            raised.rlim_cur = min(limit.rlim_max, 1 << 24)
            _ = setrlimit(resource, &raised)
        }
        return current()
    }

    #if os(Linux)
    private static var resource: __rlimit_resource_t { __rlimit_resource_t(RLIMIT_NOFILE.rawValue) }
    #else
    private static var resource: Int32 { RLIMIT_NOFILE }
    #endif
}
