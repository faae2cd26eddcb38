/// Why ``ControlClient/send(_:socketPath:timeout:)`` got no response; each description is a
/// sentence fit for the CLI to print as is.
public enum ControlClientError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Nothing listens at the path (no socket file, or a stale one).
    case daemonNotRunning(String)
    /// The caller may not connect to the socket at the path.
    case permissionDenied(String)
    /// The daemon did not answer within the timeout.
    case timedOut
    /// The daemon's answer was not a response, or the connection broke before one came.
    case protocolError(String)
    /// Connecting failed for another reason, e.g. the path is too long; the text says which.
    case connectionFailed(path: String, reason: String)

    /// A sentence for the operator.
    public var description: String {
        switch self {
        case .daemonNotRunning(let path):
            "c77-secure-dbd is not running (no socket at \(path))"
        case .permissionDenied(let path):
            "permission denied on \(path) (is your user in the socket's group?)"
        case .timedOut:
            "c77-secure-dbd did not answer in time"
        case .protocolError(let detail):
            "unexpected answer from c77-secure-dbd: \(detail)"
        case .connectionFailed(let path, let reason):
            "cannot connect to c77-secure-dbd at \(path): \(reason)"
        }
    }
}
