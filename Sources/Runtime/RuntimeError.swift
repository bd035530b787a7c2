import LinuxKit

/// Errors of the low-level runtime. `exitCode` follows Docker: 125 when the runtime failed,
/// 126 when the command cannot be executed, 127 when it was not found.
public struct RuntimeError: Error, CustomStringConvertible {
    public let message: String
    public let exitCode: Int32

    public init(_ message: String, exitCode: Int32 = 125) {
        self.message = message
        self.exitCode = exitCode
    }

    public init(_ stage: String, _ error: Error) {
        if let error = error as? RuntimeError {
            self.init("\(stage): \(error.message)", exitCode: error.exitCode)
        } else {
            self.init("\(stage): \(error)")
        }
    }

    public var description: String { message }
}
