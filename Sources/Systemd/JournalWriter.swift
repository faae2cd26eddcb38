import CSystemd
import FoundationEssentials
import Glibc
import Synchronization

/// Why a journal entry was not written.
public struct JournalError: Error, Sendable, CustomStringConvertible {
    /// What went wrong.
    public enum Code: Sendable {
        /// Nothing listens on the socket (no journald, or a wrong path).
        case socketMissing
        /// The entry could not be sent.
        case sendFailed
    }

    public var code: Code
    public var socketPath: String
    public var errno: Int32

    public var description: String {
        switch code {
        case .socketMissing: "journald socket \(socketPath) is missing: \(String(cString: strerror(self.errno)))"
        case .sendFailed: "cannot send to journald at \(socketPath): \(String(cString: strerror(self.errno)))"
        }
    }
}

/// Writes journal entries in journald's native protocol (systemd.io/JOURNAL_NATIVE_PROTOCOL)
/// to a configurable datagram socket — unlike `sd_journal_sendv`, which always targets
/// /run/systemd/journal/socket.
///
/// Each entry is one datagram of fields. A value without newlines is sent as `NAME=value\n`;
/// one with newlines as `NAME\n`, its length as 64-bit little endian, the bytes, and `\n`.
/// An entry too large for one datagram is written to a sealed memfd whose descriptor is
/// passed instead (SCM_RIGHTS), as journald expects.
public final class JournalWriter: Sendable {
    public let socketPath: String
    private let fd: Mutex<Int32>

    /// - Parameter sendTimeout: how long one entry may wait for room in the socket's queue when
    ///   journald (or whoever reads the socket) falls behind; after that the entry fails with
    ///   `sendFailed` (EAGAIN) instead of stalling the caller — a stalled reader must not stall
    ///   the daemon's jobs or its shutdown.
    public init(socketPath: String = "/run/systemd/journal/socket", sendTimeout: Duration = .seconds(1)) {
        self.socketPath = socketPath
        let descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        let (seconds, attoseconds) = sendTimeout.components
        var timeout = timeval(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
        _ = setsockopt(descriptor, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        fd = Mutex(descriptor)
    }

    deinit {
        _ = fd.withLock { close($0) }
    }

    /// Normalizes a field name as journald requires: upper case A–Z, 0–9 and `_`, not
    /// starting with `_` or a digit, at most 64 characters.
    public static func fieldName(_ name: String) -> String {
        var result = String(name.uppercased().map { ($0.isASCII && ($0.isLetter || $0.isNumber)) ? $0 : "_" })
        while result.hasPrefix("_") { result.removeFirst() }
        if let first = result.first, first.isNumber { result = "F" + result }
        if result.isEmpty { result = "FIELD" }
        return String(result.prefix(64))
    }

    /// The datagram for `fields`, in order.
    public static func encode(_ fields: [(String, String)]) -> [UInt8] {
        var bytes: [UInt8] = []
        for (name, value) in fields {
            let key = fieldName(name)
            let valueBytes = Array(value.utf8)
            if valueBytes.contains(10) {
                bytes += Array(key.utf8) + [10]
                var length = UInt64(valueBytes.count).littleEndian
                withUnsafeBytes(of: &length) { bytes += $0 }
                bytes += valueBytes + [10]
            } else {
                bytes += Array(key.utf8) + [61] + valueBytes + [10]
            }
        }
        return bytes
    }

    /// Sends one entry.
    public func send(_ fields: [(String, String)]) throws(JournalError) {
        let payload = Self.encode(fields)
        try fd.withLock { (fd: inout Int32) throws(JournalError) in
            if sendDatagram(fd, payload) { return }
            let error = errno
            switch error {
            case ENOENT, ECONNREFUSED, ENOTDIR:
                throw JournalError(code: .socketMissing, socketPath: socketPath, errno: error)
            case EMSGSIZE, ENOBUFS:
                try sendViaMemfd(fd, payload)
            default:
                throw JournalError(code: .sendFailed, socketPath: socketPath, errno: error)
            }
        }
    }

    private func withAddress<T>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> T) -> T {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(socketPath.utf8.prefix(107))
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in bytes.enumerated() { raw[index] = byte }
            if socketPath.hasPrefix("@") { raw[0] = 0 }
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + (socketPath.hasPrefix("@") ? 0 : 1))
        return withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, length) } }
    }

    private func sendDatagram(_ fd: Int32, _ payload: [UInt8]) -> Bool {
        payload.withUnsafeBytes { buffer in
            withAddress { address, length in
                sendto(fd, buffer.baseAddress, buffer.count, Int32(MSG_NOSIGNAL), address, length) >= 0
            }
        }
    }

    private func sendViaMemfd(_ fd: Int32, _ payload: [UInt8]) throws(JournalError) {
        let memfd = payload.withUnsafeBytes { c77_sealed_memfd($0.baseAddress, $0.count) }
        guard memfd >= 0 else { throw JournalError(code: .sendFailed, socketPath: socketPath, errno: errno) }
        defer { close(memfd) }

        let controlLength = MemoryLayout<cmsghdr>.size + MemoryLayout<Int32>.size
        var control = [UInt8](repeating: 0, count: (controlLength + 7) & ~7)
        let sent = control.withUnsafeMutableBytes { controlBytes -> Int in
            var header = cmsghdr()
            header.cmsg_len = controlLength
            header.cmsg_level = SOL_SOCKET
            header.cmsg_type = Int32(SCM_RIGHTS)
            controlBytes.storeBytes(of: header, as: cmsghdr.self)
            controlBytes.storeBytes(of: memfd, toByteOffset: MemoryLayout<cmsghdr>.size, as: Int32.self)
            return withAddress { address, length in
                var message = msghdr()
                message.msg_name = UnsafeMutableRawPointer(mutating: address)
                message.msg_namelen = length
                message.msg_control = controlBytes.baseAddress
                message.msg_controllen = controlBytes.count
                return sendmsg(fd, &message, Int32(MSG_NOSIGNAL))
            }
        }
        guard sent >= 0 else { throw JournalError(code: .sendFailed, socketPath: socketPath, errno: errno) }
    }
}
