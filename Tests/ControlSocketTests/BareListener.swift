import Foundation
import Glibc

/// A listening Unix socket with no server behind it, for playing a stuck, dead or confused daemon.
final class BareListener: @unchecked Sendable {
    let fd: Int32

    /// Binds and listens on `path`; nothing accepts unless ``answerOnce(with:)`` is called.
    init(_ path: String) {
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: path.utf8)
            raw[path.utf8.count] = 0
        }
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        listen(fd, 8)
    }

    /// Leaves a stale socket file at `path`: bound, then closed without unlinking.
    static func leaveStaleSocket(at path: String) {
        BareListener(path).close()
    }

    /// On a thread: accepts one client, reads once, sends `bytes` and closes.
    func answerOnce(with bytes: [UInt8]) {
        let fd = self.fd
        Thread {
            let client = accept(fd, nil, nil)
            var buffer = [UInt8](repeating: 0, count: 4096)
            _ = read(client, &buffer, buffer.count)
            _ = bytes.withUnsafeBytes { write(client, $0.baseAddress, $0.count) }
            Glibc.close(client)
        }.start()
    }

    func close() {
        Glibc.close(fd)
    }
}
