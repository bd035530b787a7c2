#if canImport(Glibc)
import Glibc
#endif
import CLinux
import LinuxKit

/// Waits for a container's process in the foreground: forwards signals to it, relays its
/// console to the user's terminal, follows window-size changes, and reaps it.
/// One thread, one poll() loop over a signalfd and the relayed fds: no handlers, no races.
public enum ProcessMonitor {
    /// Signals `swiftainer run` passes on to the container (as `docker run --sig-proxy` does).
    public static let forwardedSignals: [Int32] = [SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGCONT]
    /// Blocked from before the clone, so none is lost before the loop runs.
    public static let handledSignals: [Int32] = forwardedSignals + [SIGCHLD, SIGWINCH]

    public static func blockHandledSignals() {
        _ = handledSignals.withUnsafeBufferPointer { sw_sigmask(SIG_BLOCK, $0.baseAddress, Int32($0.count)) }
    }

    public static func unblockHandledSignals() {
        _ = handledSignals.withUnsafeBufferPointer { sw_sigmask(SIG_UNBLOCK, $0.baseAddress, Int32($0.count)) }
    }

    /// Which of the container's streams some output came from.
    public enum Stream: String, Sendable {
        case stdout, stderr
    }

    /// Receives the container's output; by default our own stdout and stderr.
    public typealias Sink = (Stream, UnsafeRawBufferPointer) -> Void

    public static let passThrough: Sink = { stream, bytes in
        try? FileDescriptor.writeAll(stream == .stdout ? 1 : 2, bytes, what: stream.rawValue)
    }

    /// Runs until `pid` exits; returns its status. `console` is the pty master when the
    /// container has a terminal (its output counts as stdout); `relayInput` copies our stdin
    /// to it. `outputs` are pipes carrying the container's stdout/stderr. Everything read goes
    /// to `sink`.
    public static func wait(pid: pid_t, console: FileDescriptor?, relayInput: Bool,
                            outputs: [(fd: FileDescriptor, stream: Stream)] = [], sink: Sink = passThrough) throws -> ExitStatus {
        let signalFD = handledSignals.withUnsafeBufferPointer { sw_signalfd($0.baseAddress, Int32($0.count)) }
        guard signalFD >= 0 else { throw SystemError.last("signalfd") }
        let signals = FileDescriptor(signalFD)
        var inputOpen = relayInput && console != nil
        // Every fd whose output is relayed, while it is open.
        var sources: [(fd: Int32, stream: Stream)] = outputs.map { ($0.fd.raw, $0.stream) }
        if let console {
            RawTerminal.copyWindowSize(from: 0, to: console.raw)
            sources.append((console.raw, .stdout))
        }
        for source in sources { _ = fcntl(source.fd, F_SETFL, fcntl(source.fd, F_GETFL) | O_NONBLOCK) }
        var buffer = [UInt8](repeating: 0, count: 32 * 1024)

        while true {
            var fds = [pollfd(fd: signals.raw, events: Int16(POLLIN), revents: 0)]
            fds += sources.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) }
            if inputOpen { fds.append(pollfd(fd: 0, events: Int16(POLLIN), revents: 0)) }
            let ready = poll(&fds, nfds_t(fds.count), -1)
            if ready < 0 {
                if errno == EINTR { continue }
                throw SystemError.last("poll")
            }
            for entry in fds where entry.revents != 0 {
                if entry.fd == signals.raw {
                    if let status = try handleSignals(signals.raw, pid: pid, console: console) {
                        for source in sources { drain(source.fd, source.stream, &buffer, sink) }
                        return status
                    }
                } else if entry.fd == 0 {
                    let n = buffer.withUnsafeMutableBytes { Glibc.read(0, $0.baseAddress, $0.count) }
                    if n > 0, let console {
                        buffer.withUnsafeBytes { try? console.writeAll(UnsafeRawBufferPointer(rebasing: $0[..<n])) }
                    } else if n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN) {
                        // End of our input: send the terminal's end-of-file character once.
                        inputOpen = false
                        if let console { try? console.writeAll([4]) }
                    }
                } else if let index = sources.firstIndex(where: { $0.fd == entry.fd }) {
                    let source = sources[index]
                    let n = buffer.withUnsafeMutableBytes { Glibc.read(source.fd, $0.baseAddress, $0.count) }
                    if n > 0 {
                        buffer.withUnsafeBytes { sink(source.stream, UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
                    } else if n == 0 || (errno != EINTR && errno != EAGAIN) {
                        sources.remove(at: index) // end of file, or EIO: every pty slave closed
                    }
                }
            }
        }
    }

    /// Returns the exit status once `pid` has been reaped.
    private static func handleSignals(_ fd: Int32, pid: pid_t, console: FileDescriptor?) throws -> ExitStatus? {
        while true {
            let signal = sw_signalfd_read(fd, nil, nil)
            if signal == 0 { break }
            if signal < 0 { throw SystemError(errno: -signal, call: "read", detail: "signalfd") }
            switch signal {
            case SIGCHLD:
                var status: Int32 = 0
                let reaped = waitpid(pid, &status, WNOHANG)
                if reaped == pid { return ExitStatus(waitStatus: status) }
            case SIGWINCH:
                if let console { RawTerminal.copyWindowSize(from: 0, to: console.raw) }
            default:
                _ = kill(pid, signal)
            }
        }
        // SIGCHLD may have been merged with an earlier one: check once more.
        var status: Int32 = 0
        if waitpid(pid, &status, WNOHANG) == pid { return ExitStatus(waitStatus: status) }
        return nil
    }

    private static func drain(_ fd: Int32, _ stream: Stream, _ buffer: inout [UInt8], _ sink: Sink) {
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { return }
            buffer.withUnsafeBytes { sink(stream, UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
        }
    }
}
