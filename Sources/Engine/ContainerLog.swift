#if canImport(Glibc)
import Glibc
#endif
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

    public var jsonLine: String {
        "{\"log\":\(JSON.quoted(log)),\"stream\":\(JSON.quoted(stream)),\"time\":\"\(time)\"}\n"
    }
}

/// Appends what a container writes to its log, a line at a time per stream. A line longer
/// than `maxLine` is split (as Docker splits at 16 KiB) so one endless line cannot hold memory;
/// whatever is left without a newline is written by `flush()` when the container ends.
public final class ContainerLogWriter {
    public static let maxLine = 16 * 1024
    private let fd: FileDescriptor
    private var pending: [ProcessMonitor.Stream: [UInt8]] = [:]
    private let clock: () -> String

    public init(path: String, clock: @escaping () -> String = { Clock.rfc3339() }) throws {
        fd = try FileDescriptor.open(path, O_WRONLY | O_CREAT | O_APPEND, mode: 0o640)
        self.clock = clock
    }

    public func append(_ stream: ProcessMonitor.Stream, _ bytes: UnsafeRawBufferPointer) {
        var buffer = pending[stream, default: []]
        buffer.append(contentsOf: bytes)
        var lines = ""
        var start = 0
        let time = clock()
        while let newline = buffer[start...].firstIndex(of: UInt8(ascii: "\n")) ?? (buffer.count - start >= Self.maxLine ? start + Self.maxLine - 1 : nil) {
            lines += LogEntry(log: String(decoding: buffer[start...newline], as: UTF8.self), stream: stream.rawValue, time: time).jsonLine
            start = newline + 1
        }
        pending[stream] = Array(buffer[start...])
        write(lines)
    }

    public func flush() {
        var lines = ""
        for stream in [ProcessMonitor.Stream.stdout, .stderr] {
            if let rest = pending[stream], !rest.isEmpty {
                lines += LogEntry(log: String(decoding: rest, as: UTF8.self), stream: stream.rawValue, time: clock()).jsonLine
            }
        }
        pending = [:]
        write(lines)
    }

    private func write(_ lines: String) {
        guard !lines.isEmpty else { return }
        // One write per batch, O_APPEND: a reader never sees half of a line from us... unless
        // the disk is full, in which case losing log lines is better than stopping the container.
        try? fd.writeAll(lines, what: "container log")
    }

    public func close() { fd.close() }
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
