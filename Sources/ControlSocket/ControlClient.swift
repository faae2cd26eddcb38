import Foundation
import Glibc

/// Why the CLI could not get an answer from the daemon.
public enum ControlClientError: Error, Sendable, Equatable, CustomStringConvertible {
    case daemonNotRunning(String)
    case permissionDenied(String)
    case timedOut(String)
    case protocolError(String)
    case io(String)

    public var description: String {
        switch self {
        case .daemonNotRunning(let path): "c77-secure-dbd is not running (nothing listens on \(path))"
        case .permissionDenied(let path): "permission denied on \(path) (are you in the socket's group?)"
        case .timedOut(let path): "no answer from c77-secure-dbd on \(path) in time"
        case .protocolError(let message): message
        case .io(let message): message
        }
    }
}

/// The client side of the control protocol, for the short-lived CLI: one request, one answer.
public enum ControlClient {
    /// Sends `request` to the daemon listening on `socketPath` and waits for its answer.
    public static func send(_ request: ControlRequest, socketPath: String, timeout: Duration = .seconds(10)) throws(ControlClientError) -> ControlResponse {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .io("socket: \(errnoText())") }
        defer { close(fd) }
        let seconds = Int(timeout.components.seconds)
        var limit = timeval(tv_sec: seconds, tv_usec: Int(timeout.components.attoseconds / 1_000_000_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))

        guard let connected = withUnixAddress(socketPath, { connect(fd, $0, $1) }) else {
            throw .io("socket path too long: \(socketPath)")
        }
        if connected != 0 {
            switch errno {
            case ENOENT, ECONNREFUSED: throw .daemonNotRunning(socketPath)
            case EACCES, EPERM: throw .permissionDenied(socketPath)
            default: throw .io("connect \(socketPath): \(errnoText())")
            }
        }
        let line = Array((request.line + "\n").utf8)
        var sent = 0
        while sent < line.count {
            let count = line[sent...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            guard count > 0 else {
                if errno == EAGAIN || errno == EWOULDBLOCK { throw .timedOut(socketPath) }
                throw .io("write: \(errnoText())")
            }
            sent += count
        }
        var reply = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while !reply.contains(10) {
            let count = read(fd, &buffer, buffer.count)
            if count == 0 { break }
            guard count > 0 else {
                if errno == EINTR { continue }
                if errno == EAGAIN || errno == EWOULDBLOCK { throw .timedOut(socketPath) }
                throw .io("read: \(errnoText())")
            }
            reply.append(contentsOf: buffer[0..<count])
        }
        guard let end = reply.firstIndex(of: 10) else { throw .protocolError("the daemon closed the connection without answering") }
        do {
            return try ControlResponse.parse(Data(reply[..<end]))
        } catch {
            throw .protocolError(error.description)
        }
    }
}
