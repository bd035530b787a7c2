#if canImport(Glibc)
import Glibc
#endif
import CLinux
import LinuxKit
import Runtime
import Containers
import OCI

/// `run -it` as Docker runs it: the container belongs to its detached supervisor from the
/// start, and this process is a client attached over a SOCK_SEQPACKET socket (waiter.c's attach
/// protocol). So the user can detach (ctrl-p ctrl-q, or --detach-keys) and the container goes
/// on; and signals reach it only while proxied (--sig-proxy).
extension Engine {
    /// Which of the container's streams the client shows or feeds (-a/--attach); all by default.
    public struct AttachStreams: Equatable, Sendable {
        public var stdin = true, stdout = true, stderr = true
        public init() {}
        public static let all = AttachStreams()
    }

    /// How a client attaches: the streams it shows and feeds, its detach sequence, whether it
    /// passes signals on, whether the container has a terminal.
    public struct AttachRequest {
        public var streams: AttachStreams
        public var detachKeys: [UInt8]
        public var sigProxy: Bool
        public var terminal: Bool
        public init(streams: AttachStreams, detachKeys: [UInt8], sigProxy: Bool, terminal: Bool) {
            self.streams = streams
            self.detachKeys = detachKeys
            self.sigProxy = sigProxy
            self.terminal = terminal
        }
    }

    /// Runs the container under a monitor and attaches to it; returns its exit code, or 0 when
    /// the user detached (the container keeps running).
    public func runAttached(_ options: RunOptions) throws -> Int32 {
        var streams = options.attach
        streams.stdin = streams.stdin && options.interactive
        let request = AttachRequest(streams: streams, detachKeys: options.detachKeys, sigProxy: options.signalProxy, terminal: options.tty)
        let (record, _, supervision) = try create(options)
        return try startAttached(record, supervision: supervision, request)
    }

    /// `start -a [-i]`: starts a created or stopped container under its monitor with this
    /// client attached, as `run` without -d does. Its terminal and stdin are what `create`
    /// gave it; `stdin` asks to feed it (only if it was created with -i).
    public func startAttached(_ reference: String, stdin: Bool, detachKeys: [UInt8]) throws -> Int32 {
        try Self.requireRoot()
        containers.reconcile()
        let record = try containers.find(reference)
        guard !record.isRunning else {
            throw EngineError.invalidOption("container \(record.name) is already running: start -a attaches only while starting it")
        }
        let spec = try ContainerRuntime.readSpec(bundle: paths.container(record.id))
        var streams = AttachStreams.all
        streams.stdin = stdin && spec.annotations?[SwiftainerAnnotation.stdinOpen] != nil
        clearStoppedByUser(record.id)
        return try startAttached(record, supervision: nil,
                                 AttachRequest(streams: streams, detachKeys: detachKeys, sigProxy: true, terminal: spec.process?.terminal ?? false))
    }

    /// Hands the container to a monitor with one end of a socket pair and runs the client on
    /// the other until the container ends or the user detaches.
    private func startAttached(_ record: ContainerRecord, supervision: FileLock?, _ request: AttachRequest) throws -> Int32 {
        var pair: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0 else {
            supervision?.unlock()
            throw SystemError.last("socketpair", "attach socket")
        }
        let client = FileDescriptor(pair[0])
        defer { client.close() }
        let monitorEnd = FileDescriptor(pair[1])
        do {
            defer { supervision?.unlock() }
            try startMonitor(record, supervision: supervision, attach: monitorEnd)
        } catch {
            monitorEnd.close()
            if record.autoRemove, let current = try? containers.load(record.id), current.status != .running {
                try? containers.remove(record.id)
            }
            throw error
        }
        monitorEnd.close()
        var session = AttachSession(socket: client, streams: request.streams, detachKeys: request.detachKeys, sigProxy: request.sigProxy,
                                    terminal: request.terminal, forward: { [containers] signal in try? containers.runtime.signal(id: record.id, signal) })
        let outcome = try session.run()
        switch outcome {
        case .detached:
            return 0
        case .interrupted(let signal):
            // Unproxied: the signal ends this client as it would Docker's; the container goes on.
            return 128 + signal
        case .exited(let status):
            // The supervisor records the end (and removes an --rm container) right after it
            // sent the status: `run` returns once that is done, as Docker's does.
            _ = waitForExit(record.id, timeout: 30)
            if record.autoRemove {
                for _ in 0..<500 where (try? containers.load(record.id)) != nil { usleep(20_000) }
            }
            return status.code
        case .lost:
            // No status came (the supervisor died): the record says what is known.
            return (try? wait(record.id)) ?? 125
        }
    }

    /// The socket a detached container's waiter accepts `attach` clients on, in the core's
    /// state directory of the container.
    static let attachSocketName = "attach.sock"

    /// `attach`: this terminal (or these pipes) joined to a running container's streams,
    /// through its supervisor's attach socket, beside any other client. Returns the container's
    /// exit code when it ends, 0 when the user detaches.
    public func attach(_ reference: String, stdin: Bool, sigProxy: Bool, detachKeys: [UInt8]) throws -> Int32 {
        try Self.requireRoot()
        let record = try containers.find(reference)
        guard record.isRunning else { throw EngineError.invalidOption("you cannot attach to a stopped container, start it first") }
        if isPaused(record) { throw EngineError.invalidOption("you cannot attach to a paused container, unpause it first") }
        let spec = try ContainerRuntime.readSpec(bundle: paths.container(record.id))
        let socket: FileDescriptor
        do {
            socket = try UnixSocket.connectPackets(in: containers.runtime.directory(record.id), name: Self.attachSocketName)
        } catch {
            throw EngineError.invalidOption("container \(record.name) has no attach socket (a foreground run's streams belong to its terminal): \(error)")
        }
        defer { socket.close() }
        var streams = AttachStreams.all
        streams.stdin = stdin && spec.annotations?[SwiftainerAnnotation.stdinOpen] == "true"
        var session = AttachSession(socket: socket, streams: streams, detachKeys: detachKeys, sigProxy: sigProxy,
                                    terminal: spec.process?.terminal ?? false, forward: { [containers] signal in try? containers.runtime.signal(id: record.id, signal) })
        switch try session.run() {
        case .detached: return 0
        case .interrupted(let signal): return 128 + signal
        case .exited(let status):
            _ = waitForExit(record.id, timeout: 30)
            return status.code
        case .lost: return (try? wait(record.id)) ?? 125
        }
    }

    /// Docker's `create`: the container made from the image with every run flag, left in
    /// state created for `start`. Returns its id.
    public func createContainer(_ options: RunOptions) throws -> String {
        var (record, _, supervision) = try create(options)
        defer { supervision.unlock() }
        record.waitsForStart = true
        do {
            try containers.save(record, durable: true)
        } catch {
            try? containers.remove(record.id)
            throw error
        }
        return record.id
    }
}

/// The client side of one attachment: the user's terminal in raw mode (with -t), its input to
/// the container with the detach sequence watched, the container's output to ours, the
/// window size and (with --sig-proxy) signals passed on.
struct AttachSession {
    enum Outcome { case detached, interrupted(Int32), exited(ExitStatus), lost }

    let socket: FileDescriptor
    let streams: Engine.AttachStreams
    let detachKeys: [UInt8]
    let sigProxy: Bool
    let terminal: Bool
    let forward: (Int32) -> Void

    /// The detach sequence's bytes typed so far (held back until it is complete or broken).
    private var held: [UInt8] = []

    init(socket: FileDescriptor, streams: Engine.AttachStreams, detachKeys: [UInt8], sigProxy: Bool, terminal: Bool,
         forward: @escaping (Int32) -> Void) {
        self.socket = socket
        self.streams = streams
        self.detachKeys = detachKeys
        self.sigProxy = sigProxy
        self.terminal = terminal
        self.forward = forward
    }

    mutating func run() throws -> Outcome {
        // Unproxied, the signals that would end a client end this one (and nothing else).
        let handled = (sigProxy ? ProcessMonitor.forwardedSignals : [SIGHUP, SIGINT, SIGTERM]) + [SIGWINCH]
        _ = handled.withUnsafeBufferPointer { sw_sigmask(SIG_BLOCK, $0.baseAddress, Int32($0.count)) }
        defer { _ = handled.withUnsafeBufferPointer { sw_sigmask(SIG_UNBLOCK, $0.baseAddress, Int32($0.count)) } }
        let signalFD = handled.withUnsafeBufferPointer { sw_signalfd($0.baseAddress, Int32($0.count)) }
        guard signalFD >= 0 else { throw SystemError.last("signalfd") }
        let signals = FileDescriptor(signalFD)
        let raw = terminal ? RawTerminal(fd: 0) : nil
        defer { raw?.restore() }
        if terminal { sendWindowSize() }
        var inputOpen = streams.stdin
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            // Input is read only once what was read before is sent: the socket never blocks
            // this loop, which must go on taking the container's output meanwhile.
            let readingInput = inputOpen && unsent.isEmpty
            var fds = [pollfd(fd: socket.raw, events: Int16(POLLIN) | (unsent.isEmpty ? 0 : Int16(POLLOUT)), revents: 0),
                       pollfd(fd: signals.raw, events: Int16(POLLIN), revents: 0)]
            if readingInput { fds.append(pollfd(fd: 0, events: Int16(POLLIN), revents: 0)) }
            if poll(&fds, nfds_t(fds.count), -1) < 0 {
                if errno == EINTR { continue }
                throw SystemError.last("poll", "attach")
            }
            if fds[0].revents & Int16(POLLOUT) != 0 { sendUnsent() }
            if fds[1].revents != 0 {
                while true {
                    let signal = sw_signalfd_read(signals.raw, nil, nil)
                    if signal <= 0 { break }
                    if signal == SIGWINCH { sendWindowSize() } else if sigProxy { forward(signal) } else { return .interrupted(signal) }
                }
            }
            if readingInput && fds[2].revents != 0 {
                // At most what the waiter takes in one packet (its buffer is 32 KiB).
                let n = buffer.withUnsafeMutableBytes { Glibc.read(0, $0.baseAddress, 16 * 1024) }
                if n > 0 {
                    let (typed, detach) = filterDetachKeys(Array(buffer[..<n]))
                    if detach { return .detached }
                    if !typed.isEmpty { queue(0, typed) }
                } else if n == 0 || (errno != EINTR && errno != EAGAIN) {
                    inputOpen = false
                    queue(2, [])
                }
            }
            if fds[0].revents != 0 {
                let n = buffer.withUnsafeMutableBytes { recv(socket.raw, $0.baseAddress, $0.count, 0) }
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { return .lost }
                switch buffer[0] {
                case 1 where streams.stdout: writeAll(1, buffer[1..<n])
                case 2 where streams.stderr: writeAll(2, buffer[1..<n])
                case 3 where n == 5:
                    var status: Int32 = 0
                    withUnsafeMutableBytes(of: &status) { $0.copyBytes(from: buffer[1..<5]) }
                    return .exited(ExitStatus(waitStatus: status))
                default: break
                }
            }
        }
    }

    /// Input bytes with the detach sequence taken out; true when it was completed. Bytes of a
    /// sequence begun but broken are passed on, as Docker's escape proxy does.
    mutating func filterDetachKeys(_ input: [UInt8]) -> ([UInt8], Bool) {
        guard !detachKeys.isEmpty else { return (input, false) }
        var out: [UInt8] = []
        for byte in input {
            if byte == detachKeys[held.count] {
                held.append(byte)
                if held.count == detachKeys.count { return (out, true) }
            } else {
                out += held
                held = []
                if byte == detachKeys[0] { held.append(byte) } else { out.append(byte) }
                if held.count == detachKeys.count { return (out, true) }
            }
        }
        return (out, false)
    }

    /// Packets of input (and its end) not yet taken by the socket, oldest first.
    private var unsent: [[UInt8]] = []

    private mutating func queue(_ kind: UInt8, _ bytes: [UInt8]) {
        unsent.append([kind] + bytes)
        sendUnsent()
    }

    /// Sends queued packets until the socket is full (EAGAIN: the container is not reading) or
    /// gone (then the status never comes and the receive side ends the session).
    private mutating func sendUnsent() {
        while let packet = unsent.first {
            let sent = packet.withUnsafeBytes { Glibc.send(socket.raw, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
            if sent < 0 && errno == EINTR { continue }
            if sent < 0 && errno == EAGAIN { return }
            unsent.removeFirst()
        }
    }

    private func sendWindowSize() {
        var rows: UInt16 = 0, cols: UInt16 = 0
        guard sw_get_winsize(0, &rows, &cols) == 0, rows > 0 else { return }
        var packet: [UInt8] = [1]
        withUnsafeBytes(of: rows) { packet += $0 }
        withUnsafeBytes(of: cols) { packet += $0 }
        _ = packet.withUnsafeBytes { Glibc.send(socket.raw, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
    }

    private func writeAll(_ fd: Int32, _ bytes: ArraySlice<UInt8>) {
        var offset = bytes.startIndex
        while offset < bytes.endIndex {
            let n = bytes[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }
            offset += n
        }
    }
}
