#if canImport(Glibc)
import Glibc
#endif
import CLinux
import JSONKit
import LinuxKit
import Runtime

/// One line of a container's log, in Docker's json-file shape:
/// `{"log":"hello\n","stream":"stdout","time":"2026-11-23T08:00:00.123456789Z"}`.
public struct LogEntry: Codable, Equatable, Sendable {
    public var log: String
    public var stream: String
    public var time: String

    public init(log: String, stream: String, time: String) {
        self.log = log
        self.stream = stream
        self.time = time
    }
}

/// Appends what a container writes to its log, a line at a time per stream. A line longer
/// than `maxLine` is split (as Docker splits at 16 KiB) so one endless line cannot hold memory;
/// whatever is left without a newline is written by `flush()` when the container ends. The
/// format is written in C (CLinux/json_log.c), once for this writer and the detached waiter.
public final class ContainerLogWriter {
    public static let maxLine = Int(SW_JSON_LOG_MAX_LINE)
    private let fd: FileDescriptor
    private var log = sw_json_log()
    private let clock: () -> String

    public init(path: String, clock: @escaping () -> String = { Clock.rfc3339() }) throws {
        fd = try FileDescriptor.open(path, O_WRONLY | O_CREAT | O_APPEND, mode: 0o640)
        self.clock = clock
        sw_json_log_init(&log, fd.raw)
    }

    deinit { sw_json_log_free(&log) }

    public func append(_ stream: ProcessMonitor.Stream, _ bytes: UnsafeRawBufferPointer) {
        sw_json_log_append(&log, stream == .stdout ? 0 : 1, bytes.baseAddress, bytes.count, clock())
    }

    public func flush() { sw_json_log_flush(&log, clock()) }

    public func close() {
        fd.close()
        log.fd = -1
    }
}

/// Reads a container's log from a byte offset: complete lines only, so a line being written
/// is picked up whole by the next read.
public enum ContainerLogReader {
    public static func read(path: String, from offset: Int) throws -> (entries: [LogEntry], next: Int) {
        let bytes: [UInt8]
        do { bytes = try Files.read(path) } catch let error as SystemError where error.errno == ENOENT { return ([], offset) }
        guard offset < bytes.count, let lastNewline = bytes.lastIndex(of: UInt8(ascii: "\n")), lastNewline >= offset else {
            return ([], offset)
        }
        var entries: [LogEntry] = []
        for line in bytes[offset...lastNewline].split(separator: UInt8(ascii: "\n")) {
            if let entry = try? JSON.decode(LogEntry.self, from: line) { entries.append(entry) }
        }
        return (entries, lastNewline + 1)
    }
}
