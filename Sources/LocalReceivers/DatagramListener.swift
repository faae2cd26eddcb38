import FoundationEssentials
import Glibc

/// A Unix datagram socket that collects what is sent to it: a stand-in for systemd's
/// NOTIFY_SOCKET or journald's native socket, for tests and for `c77-secure-dbd demo`.
public final class DatagramListener: @unchecked Sendable {
    /// The socket's path (a file path, or `@name` for an abstract socket).
    public let path: String
    private let fd: Int32

    /// A socket that could not be created or bound.
    public struct SocketError: Error, CustomStringConvertible {
        public var description: String
    }

    /// Binds a new datagram socket at `path` (`@name` binds an abstract socket).
    public init(path: String) throws {
        self.path = path
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SocketError(description: "socket: \(String(cString: strerror(errno)))") }
        if !path.hasPrefix("@") { unlink(path) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            close(fd)
            throw SocketError(description: "socket path too long: \(path)")
        }
        let length = withUnsafeMutableBytes(of: &address.sun_path) { raw -> Int in
            for (index, byte) in bytes.enumerated() { raw[index] = byte }
            if path.hasPrefix("@") { raw[0] = 0 }
            return bytes.count + (path.hasPrefix("@") ? 0 : 1)
        }
        let size = socklen_t(MemoryLayout<sa_family_t>.size + length)
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, size) }
        }
        guard result == 0 else {
            let message = String(cString: strerror(errno))
            close(fd)
            throw SocketError(description: "bind \(path): \(message)")
        }
        var bufferSize: Int32 = 8 << 20
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bufferSize, socklen_t(MemoryLayout<Int32>.size))
    }

    deinit {
        close(fd)
        if !path.hasPrefix("@") { unlink(path) }
    }

    /// The next datagram, or nil when none arrives within `timeout`. A datagram that carries
    /// a file descriptor (journald's memfd convention for large entries) is returned as the
    /// content of that file.
    public func receive(timeout: Duration) -> Data? {
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let milliseconds = Int32(min(timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000, Int64(Int32.max)))
        guard poll(&poller, 1, milliseconds) > 0 else { return nil }
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var control = [UInt8](repeating: 0, count: 64)
        let received = buffer.withUnsafeMutableBytes { bufferBytes -> Int in
            control.withUnsafeMutableBytes { controlBytes -> Int in
                var vector = iovec(iov_base: bufferBytes.baseAddress, iov_len: bufferBytes.count)
                return withUnsafeMutablePointer(to: &vector) { vectorPointer -> Int in
                    var message = msghdr()
                    message.msg_iov = vectorPointer
                    message.msg_iovlen = 1
                    message.msg_control = controlBytes.baseAddress
                    message.msg_controllen = controlBytes.count
                    let count = recvmsg(fd, &message, 0)
                    if count >= 0, message.msg_controllen >= MemoryLayout<cmsghdr>.size {
                        let header = controlBytes.load(as: cmsghdr.self)
                        if header.cmsg_level == SOL_SOCKET, header.cmsg_type == Int32(SCM_RIGHTS) {
                            let descriptor = controlBytes.load(fromByteOffset: MemoryLayout<cmsghdr>.size, as: Int32.self)
                            return -Int(descriptor) - 2
                        }
                    }
                    return count
                }
            }
        }
        if received <= -2 {
            let descriptor = Int32(-(received + 2))
            defer { close(descriptor) }
            var content = Data()
            var offset = off_t(0)  // the sender's writes left the shared offset at the end
            while true {
                let count = buffer.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, $0.count, offset) }
                guard count > 0 else { return content }
                content.append(contentsOf: buffer[..<count])
                offset += off_t(count)
            }
        }
        guard received >= 0 else { return nil }
        return Data(buffer[0..<received])
    }

    /// Receives datagrams until one satisfies `predicate` or `timeout` passes.
    public func receive(until predicate: (Data) -> Bool, timeout: Duration) -> Data? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            guard let datagram = receive(timeout: deadline - ContinuousClock.now) else { return nil }
            if predicate(datagram) { return datagram }
        }
        return nil
    }
}

/// Parses journald's native protocol: `NAME=value\n`, or `NAME\n` + 64-bit little-endian
/// length + bytes + `\n` for values that may hold newlines. Repeated fields keep the last value.
public enum JournalEntryParser {
    public static func parse(_ data: Data) -> [String: String] {
        var fields: [String: String] = [:]
        let bytes = [UInt8](data)
        var index = 0
        while index < bytes.count {
            guard let lineEnd = bytes[index...].firstIndex(of: UInt8(ascii: "\n")) else { break }
            let line = bytes[index..<lineEnd]
            if let equals = line.firstIndex(of: UInt8(ascii: "=")) {
                fields[String(decoding: bytes[index..<equals], as: UTF8.self)] = String(decoding: bytes[(equals + 1)..<lineEnd], as: UTF8.self)
                index = lineEnd + 1
            } else {
                let name = String(decoding: line, as: UTF8.self)
                let lengthStart = lineEnd + 1
                guard lengthStart + 8 <= bytes.count else { break }
                var length = 0
                for offset in 0..<8 { length |= Int(bytes[lengthStart + offset]) << (8 * offset) }
                let valueStart = lengthStart + 8
                guard valueStart + length <= bytes.count else { break }
                fields[name] = String(decoding: bytes[valueStart..<(valueStart + length)], as: UTF8.self)
                index = valueStart + length + 1
            }
        }
        return fields
    }
}
