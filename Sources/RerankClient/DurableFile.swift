import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The output file: the valid prefix of what a previous run wrote is kept (the rest cut off), then each
/// result line is appended with a single `write` of the line and its newline, and `fsync`ed at checkpoints.
/// A crash leaves complete lines followed at most by one partial line, which the next run cuts off.
///
/// Used by one task at a time (the run's writer); not `Sendable`.
public final class DurableFile {
    public let path: String
    /// What was kept from an earlier run.
    public let resumed: OutputPrefix
    /// Lines in the file now.
    public private(set) var lines: Int
    private var descriptor: Int32

    /// Opens (or creates) `path`, keeps its valid prefix and truncates the rest.
    public init(path: String) throws(ClientError) {
        self.path = path
        let existing = (try? Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)) ?? Data()
        let prefix = existing.withUnsafeBytes { OutputPrefix(scanning: $0.bindMemory(to: UInt8.self)) }
        let fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .output("cannot open \(path): \(String(cString: strerror(errno)))") }
        guard ftruncate(fd, off_t(prefix.byteCount)) == 0, lseek(fd, off_t(prefix.byteCount), SEEK_SET) >= 0 else {
            let message = String(cString: strerror(errno))
            systemClose(fd)
            throw .output("cannot truncate \(path) to its valid prefix: \(message)")
        }
        descriptor = fd
        resumed = prefix
        lines = prefix.lines
    }

    deinit { if descriptor >= 0 { systemClose(descriptor) } }

    /// Appends one line (the newline is added) in one `write` call, retried on a short write.
    public func append(line bytes: [UInt8]) throws(ClientError) {
        var buffer = bytes
        buffer.append(UInt8(ascii: "\n"))
        try Self.writeAll(descriptor, buffer, path: path)
        lines += 1
    }

    /// Flushes what was written to the disk.
    public func sync() throws(ClientError) {
        guard fsync(descriptor) == 0 else { throw .output("cannot fsync \(path): \(String(cString: strerror(errno)))") }
    }

    /// Syncs and closes the file.
    public func close() throws(ClientError) {
        guard descriptor >= 0 else { return }
        defer {
            systemClose(descriptor)
            descriptor = -1
        }
        try sync()
    }

    /// Replaces `path` with `data` atomically: a temporary file beside it, fsync, rename.
    public static func replace(_ path: String, with data: Data) throws(ClientError) {
        let temporary = path + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .output("cannot write \(temporary): \(String(cString: strerror(errno)))") }
        do throws(ClientError) {
            try writeAll(fd, Array(data), path: temporary)
            guard fsync(fd) == 0 else { throw ClientError.output("cannot fsync \(temporary): \(String(cString: strerror(errno)))") }
        } catch {
            systemClose(fd)
            throw error
        }
        systemClose(fd)
        guard rename(temporary, path) == 0 else { throw .output("cannot rename \(temporary) to \(path): \(String(cString: strerror(errno)))") }
    }

    private static func writeAll(_ fd: Int32, _ bytes: [UInt8], path: String) throws(ClientError) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                throw .output("cannot write \(path): \(String(cString: strerror(errno)))")
            }
            offset += written
        }
    }
}

/// `close(2)`, named apart from ``DurableFile/close()``.
private func systemClose(_ fd: Int32) {
    _ = close(fd)
}
