#if canImport(Glibc)
import Glibc
#endif
import CLinux

/// Puts the caller's terminal into raw mode and restores it exactly once, on every exit path
/// that runs Swift code (normal return, error, forwarded signal).
public final class RawTerminal {
    private let fd: Int32
    private var saved = termios()
    private var active = false

    /// Nil when `fd` is not a terminal.
    public init?(fd: Int32 = 0) {
        guard isatty(fd) == 1, tcgetattr(fd, &saved) == 0 else { return nil }
        self.fd = fd
        var raw = saved
        cfmakeraw(&raw)
        guard tcsetattr(fd, TCSANOW, &raw) == 0 else { return nil }
        active = true
    }

    public func restore() {
        guard active else { return }
        _ = tcsetattr(fd, TCSANOW, &saved)
        active = false
    }

    deinit { restore() }

    /// Copies the window size of `from` (the user's terminal) to `to` (the container's console).
    public static func copyWindowSize(from: Int32, to: Int32) {
        var rows: UInt16 = 0
        var cols: UInt16 = 0
        if sw_get_winsize(from, &rows, &cols) == 0 && rows > 0 {
            _ = sw_set_winsize(to, rows, cols)
        }
    }
}
