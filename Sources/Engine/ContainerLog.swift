#if canImport(Glibc)
import Glibc
#endif
import CLinux
import Images
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

/// A container's logging driver (--log-driver, --log-opt), Docker's on Linux as far as they
/// write files: "json-file" (no limit unless max-size; max-file 1), "local" (Docker's defaults
/// for it: 20m × 5, compressed — written in the json-file format here, which `logs` reads
/// the same way) and "none" (nothing kept; `logs` refuses, as Docker's does).
public struct LogConfig: Codable, Equatable, Sendable {
    public var driver: String
    /// Bytes per file before rotation; nil: one file without limit.
    public var maxSize: Int64?
    /// Files kept, the current one included.
    public var maxFiles: Int
    public var compress: Bool
    /// The options as given, for inspect's HostConfig.LogConfig.
    public var options: [String: String]

    public static let jsonFile = LogConfig(driver: "json-file", maxSize: nil, maxFiles: 1, compress: false, options: [:])
    public static let drivers = ["json-file", "local", "none"]

    public var keepsLog: Bool { driver != "none" }

    /// --log-driver and its --log-opt KEY=VALUE list, checked as Docker checks them.
    public static func parse(driver name: String?, options: [String]) throws -> LogConfig {
        let driver = name ?? "json-file"
        guard drivers.contains(driver) else {
            throw EngineError.invalidOption("--log-driver \(Printable.escaped(driver)): logger: no log driver named '\(Printable.escaped(driver))' is registered (swiftainer has json-file, local and none)")
        }
        var config = driver == "local"
            ? LogConfig(driver: driver, maxSize: 20 * 1024 * 1024, maxFiles: 5, compress: true, options: [:])
            : LogConfig(driver: driver, maxSize: nil, maxFiles: 1, compress: false, options: [:])
        for text in options {
            guard let equals = text.firstIndex(of: "="), equals != text.startIndex else {
                throw EngineError.invalidOption("--log-opt \(Printable.escaped(text)): invalid log opt format, it must be KEY=VALUE")
            }
            let key = String(text[..<equals]), value = String(text[text.index(after: equals)...])
            guard driver != "none" else {
                throw EngineError.invalidOption("--log-opt \(Printable.escaped(text)): the none log driver takes no options")
            }
            switch key {
            case "max-size":
                guard value != "-1" else { config.maxSize = nil; break }
                let size = try FlagValues.bytes(value, flag: "--log-opt max-size")
                guard size > 0 else { throw EngineError.invalidOption("--log-opt max-size=\(value): must be a positive size") }
                config.maxSize = size
            case "max-file":
                guard let count = Int(value), count >= 1 else {
                    throw EngineError.invalidOption("--log-opt max-file=\(Printable.escaped(value)): max-file must be a number of at least 1")
                }
                config.maxFiles = count
            case "compress":
                guard let flag = Bool(value) else {
                    throw EngineError.invalidOption("--log-opt compress=\(Printable.escaped(value)): must be true or false")
                }
                config.compress = flag
            default:
                throw EngineError.invalidOption("--log-opt \(Printable.escaped(text)): unknown log opt '\(Printable.escaped(key))' for \(driver) log driver (swiftainer's take max-size, max-file, compress)")
            }
            config.options[key] = value
        }
        if config.maxFiles > 1 && config.maxSize == nil {
            throw EngineError.invalidOption("--log-opt max-file=\(config.maxFiles): max-file can only be set if max-size is set")
        }
        return config
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

    public init(path: String, config: LogConfig = .jsonFile, clock: @escaping () -> String = { Clock.rfc3339() }) throws {
        fd = try FileDescriptor.open(path, O_WRONLY | O_CREAT | O_APPEND, mode: 0o640)
        self.clock = clock
        sw_json_log_init(&log, fd.raw)
        if let maxSize = config.maxSize {
            sw_json_log_rotate_at(&log, path, maxSize, Int32(config.maxFiles), config.compress ? 1 : 0)
        }
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
/// is picked up whole by the next read. Rotated files (PATH.1, PATH.2.gz…) are read too.
public enum ContainerLogReader {
    /// Where a follower is: the current file (its inode) and the offset read up to in it.
    public struct Position: Equatable, Sendable {
        public var inode: UInt64
        public var offset: Int
        public static let start = Position(inode: 0, offset: 0)
    }

    public static func read(path: String, from offset: Int) throws -> (entries: [LogEntry], next: Int) {
        let bytes: [UInt8]
        do { bytes = try Files.read(path) } catch let error as SystemError where error.errno == ENOENT { return ([], offset) }
        return completeLines(bytes, from: offset)
    }

    /// The rotated files of `path` that exist, oldest first: PATH.N[.gz] … PATH.1[.gz].
    public static func rotatedFiles(_ path: String) -> [String] {
        var files: [String] = []
        for n in 1... {
            let plain = "\(path).\(n)"
            if Files.exists(plain + ".gz") { files.append(plain + ".gz") } else if Files.exists(plain) { files.append(plain) } else { break }
        }
        return files.reversed()
    }

    /// Every entry, the rotated files' first, and the position after them for a follower.
    public static func readAll(path: String) throws -> (entries: [LogEntry], next: Position) {
        var entries: [LogEntry] = []
        for file in rotatedFiles(path) {
            entries += completeLines(try contents(file), from: 0).entries
        }
        let (current, next) = try read(path, from: .start)
        return (entries + current, next)
    }

    /// What was added since `position`. When the file was rotated meanwhile (another inode at
    /// `path`), the rest of the old one comes first — found by its inode among the rotated
    /// files, with every file rotated after it (a slow follower may be several rotations
    /// behind); compressed ones have new inodes, so then PATH.1 is taken as the old one. When
    /// it was truncated (max-file 1), reading starts over.
    public static func read(_ path: String, from position: Position) throws -> (entries: [LogEntry], next: Position) {
        var info = stat()
        guard stat(path, &info) == 0 else { return ([], position) }
        let inode = UInt64(info.st_ino)
        var entries: [LogEntry] = []
        var offset = position.offset
        if position.inode != 0 && position.inode != inode {
            let rotated = rotatedFiles(path)
            let old = rotated.firstIndex { file in
                var fileInfo = stat()
                return stat(file, &fileInfo) == 0 && UInt64(fileInfo.st_ino) == position.inode
            }
            for (index, file) in rotated.enumerated().dropFirst(old ?? max(0, rotated.count - 1)) {
                if let bytes = try? contents(file) { entries += completeLines(bytes, from: index == (old ?? rotated.count - 1) ? offset : 0).entries }
            }
            offset = 0
        } else if Int(info.st_size) < offset {
            offset = 0
        }
        let (current, next) = try read(path: path, from: offset)
        return (entries + current, Position(inode: inode, offset: next))
    }

    /// A log file's bytes, gunzipped when its name ends in .gz.
    static func contents(_ file: String) throws -> [UInt8] {
        guard file.hasSuffix(".gz") else { return try Files.read(file) }
        var stream = DecompressingStream(FileByteStream(try FileDescriptor.open(file, O_RDONLY)))
        defer { stream.close() }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = try chunk.withUnsafeMutableBytes { try stream.read(into: $0) }
            if n == 0 { return bytes }
            bytes += chunk[..<n]
        }
    }

    static func completeLines(_ bytes: [UInt8], from offset: Int) -> (entries: [LogEntry], next: Int) {
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
