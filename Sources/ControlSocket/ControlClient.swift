import FoundationEssentials
import Glibc

/// The CLI's side of the status socket: one request, one response, synchronously.
public enum ControlClient {
    /// The longest response accepted, in bytes.
    static let maxResponseLength = 16 << 20

    /// Sends `request` to the daemon and waits for its response.
    ///
    /// Blocks the calling thread, so it suits a short-lived command-line process; do not call it
    /// from a task on the cooperative pool.
    /// - Parameters:
    ///   - request: The request to send.
    ///   - socketPath: The daemon's socket.
    ///   - timeout: How long connecting, sending and receiving may take altogether.
    /// - Returns: The daemon's response, which may itself be a ``ControlResponse/failure(_:)``.
    /// - Throws: ``ControlClientError`` when no response could be had.
    public static func send(
        _ request: ControlRequest, socketPath: String, timeout: Duration = .seconds(10)
    ) throws(ControlClientError) -> ControlResponse {
        let deadline = ContinuousClock.now + timeout
        guard UnixSocket.isValidPath(socketPath) else {
            throw .connectionFailed(path: socketPath, reason: "not a valid Unix socket path (at most \(UnixSocket.maxPathLength) bytes)")
        }
        let fd = UnixSocket.makeStreamSocket()
        guard fd >= 0 else {
            throw .connectionFailed(path: socketPath, reason: UnixSocket.describe(errno))
        }
        defer { close(fd) }
        // A Unix-socket connect blocks only while the daemon's backlog is full, bounded by SO_SNDTIMEO.
        UnixSocket.setSendTimeout(fd, timeout)
        try connect(fd, to: socketPath)
        guard fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) == 0 else {
            throw .connectionFailed(path: socketPath, reason: UnixSocket.describe(errno))
        }
        // If sending fails, the daemon may still have explained why (e.g. "too many clients").
        try sendLine(encode(request), on: fd, before: deadline)
        return try decode(receiveLine(on: fd, before: deadline))
    }

    private static func connect(_ fd: Int32, to path: String) throws(ControlClientError) {
        switch UnixSocket.connect(fd, to: path) {
        case 0: return
        case ENOENT, ECONNREFUSED: throw .daemonNotRunning(path)
        case EACCES, EPERM: throw .permissionDenied(path)
        case EAGAIN, ETIMEDOUT: throw .timedOut
        case let code: throw .connectionFailed(path: path, reason: UnixSocket.describe(code))
        }
    }

    private static func encode(_ request: ControlRequest) throws(ControlClientError) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        do {
            return Array(try encoder.encode(request)) + [UInt8(ascii: "\n")]
        } catch {
            throw .protocolError("the request cannot be encoded as JSON: \(error)")
        }
    }

    /// Sends `line`, stopping quietly if the daemon closed the connection first.
    private static func sendLine(_ line: [UInt8], on fd: Int32, before deadline: ContinuousClock.Instant) throws(ControlClientError) {
        var sent = 0
        while sent < line.count {
            let result = line.withUnsafeBytes { raw in
                Glibc.send(fd, raw.baseAddress! + sent, raw.count - sent, Int32(MSG_NOSIGNAL))
            }
            if result > 0 {
                sent += result
            } else if result < 0 && (errno == EAGAIN || errno == EINTR) {
                try waitFor(Int16(POLLOUT), on: fd, before: deadline)
            } else {
                return
            }
        }
    }

    private static func receiveLine(on fd: Int32, before deadline: ContinuousClock.Instant) throws(ControlClientError) -> [UInt8] {
        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = read(fd, &chunk, chunk.count)
            if count > 0 {
                let start = received.count
                received.append(contentsOf: chunk[..<count])
                if let newline = received[start...].firstIndex(of: UInt8(ascii: "\n")) {
                    return Array(received[..<newline])
                }
                guard received.count <= maxResponseLength else {
                    throw .protocolError("response longer than \(maxResponseLength) bytes")
                }
            } else if count == 0 {
                throw .protocolError("the daemon closed the connection without a complete response")
            } else if errno == EAGAIN || errno == EINTR {
                try waitFor(Int16(POLLIN), on: fd, before: deadline)
            } else {
                throw .protocolError("the connection failed: \(UnixSocket.describe(errno))")
            }
        }
    }

    private static func waitFor(_ events: Int16, on fd: Int32, before deadline: ContinuousClock.Instant) throws(ControlClientError) {
        let remaining = deadline - ContinuousClock.now
        guard remaining > .zero, UnixSocket.wait(fd, for: events, timeout: remaining) != 0 else {
            throw .timedOut
        }
    }

    private static func decode(_ line: [UInt8]) throws(ControlClientError) -> ControlResponse {
        do {
            return try JSONDecoder().decode(ControlResponse.self, from: Data(line))
        } catch {
            throw .protocolError("not a response: \(String(decoding: line.prefix(200), as: UTF8.self))")
        }
    }
}
