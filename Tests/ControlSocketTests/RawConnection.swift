import ControlSocket
import Foundation
import Glibc
import Testing

/// A bare Unix-socket client for sending arbitrary bytes and reading raw response lines.
final class RawConnection {
    private let fd: Int32
    private var pending: [UInt8] = []

    struct ConnectFailed: Error {
        let code: Int32
    }

    init(_ path: String) throws {
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: path.utf8)
            raw[path.utf8.count] = 0
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard result == 0 else {
            let code = errno
            close(fd)
            throw ConnectFailed(code: code)
        }
    }

    deinit {
        close(fd)
    }

    /// Sends everything it can; the server may close the connection part-way.
    func send(_ bytes: [UInt8]) {
        var sent = 0
        while sent < bytes.count {
            let result = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL)) }
            guard result > 0 else { return }
            sent += result
        }
    }

    func send(_ text: String) {
        send(Array(text.utf8))
    }

    /// The next line the server sends, or `nil` on end of stream or after `timeout`.
    func readLine(timeout: Duration = .seconds(5)) -> String? {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: pending[..<newline], as: UTF8.self)
                pending.removeSubrange(...newline)
                return line
            }
            guard fill(before: deadline) else { return nil }
        }
    }

    /// The response on the next line, decoded.
    func readResponse() throws -> ControlResponseLine {
        let line = try #require(readLine())
        return ControlResponseLine(text: line, response: try JSONDecoder().decode(ControlResponse.self, from: Data(line.utf8)))
    }

    /// Whether the server closes the connection (after any lines still pending) within `timeout`.
    func isClosed(within timeout: Duration) -> Bool {
        let deadline = ContinuousClock.now + timeout
        while fill(before: deadline) {}
        return ContinuousClock.now < deadline
    }

    /// Reads more bytes; `false` on end of stream, error or timeout.
    private func fill(before deadline: ContinuousClock.Instant) -> Bool {
        let remaining = deadline - .now
        guard remaining > .zero else { return false }
        var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let milliseconds = Int32(remaining.components.seconds * 1000 + remaining.components.attoseconds / 1_000_000_000_000_000 + 1)
        guard poll(&entry, 1, milliseconds) > 0 else { return false }
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        let count = read(fd, &chunk, chunk.count)
        guard count > 0 else { return false }
        pending.append(contentsOf: chunk[..<count])
        return true
    }
}

/// A response line as sent and as decoded.
struct ControlResponseLine: Sendable {
    let text: String
    let response: ControlResponse
}
