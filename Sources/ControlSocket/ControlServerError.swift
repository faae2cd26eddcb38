/// Why ``ControlServer/start()`` could not put the status socket in place.
public struct ControlServerError: Error, Sendable, CustomStringConvertible {
    /// The kind of failure.
    public enum Code: Sendable, Hashable {
        /// The path does not fit in a Unix socket address (107 bytes) or contains a NUL byte.
        case invalidPath
        /// The socket's directory does not exist.
        case directoryMissing
        /// The configured group is not in the group database.
        case unknownGroup
        /// Something that is not a socket is at the path; it is left alone.
        case notASocket
        /// Another process is listening on the path.
        case addressInUse
        /// ``ControlServer/start()`` was called on a server that was already started.
        case alreadyStarted
        /// A system call failed; the message names it and the system's reason.
        case systemCallFailed
    }

    /// The kind of failure.
    public var code: Code
    /// The socket path concerned.
    public var path: String
    /// A complete sentence for the operator, naming the path.
    public var message: String

    /// An error of kind `code` about `path`.
    public init(_ code: Code, path: String, message: String) {
        self.code = code
        self.path = path
        self.message = message
    }

    /// The message.
    public var description: String { message }
}
