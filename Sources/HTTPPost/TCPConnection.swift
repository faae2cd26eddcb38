import Glibc

/// A non-blocking TCP connection whose waits end at a ``PostDeadline``.
final class TCPConnection {
    let descriptor: Int32
    private let deadline: PostDeadline

    private init(descriptor: Int32, deadline: PostDeadline) {
        self.descriptor = descriptor
        self.deadline = deadline
    }

    deinit {
        close(descriptor)
    }

    /// Resolves `host` (see ``NameResolution``) and connects to the first address that accepts.
    static func connect(host: String, port: Int, deadline: PostDeadline) throws(HTTPPostError) -> TCPConnection {
        let addresses = try NameResolution.resolve(host: host, port: port, deadline: deadline)
        return try withExtendedLifetime(addresses) { () throws(HTTPPostError) -> TCPConnection in
            var failure = HTTPPostError(.connect, "no address for \(host)")
            var address: UnsafeMutablePointer<addrinfo>? = addresses.first
            while let current = address {
                address = current.pointee.ai_next
                do throws(HTTPPostError) {
                    return try connect(to: current.pointee, deadline: deadline)
                } catch where error.code == .connect {
                    failure = HTTPPostError(.connect, "cannot connect to \(host):\(port): \(error.description)")
                }
            }
            throw failure
        }
    }

    private static func connect(to address: addrinfo, deadline: PostDeadline) throws(HTTPPostError) -> TCPConnection {
        let descriptor = socket(address.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw HTTPPostError(.connect, String(cString: strerror(errno))) }
        let connection = TCPConnection(descriptor: descriptor, deadline: deadline)
        if Glibc.connect(descriptor, address.ai_addr, address.ai_addrlen) != 0 {
            guard errno == EINPROGRESS else { throw HTTPPostError(.connect, String(cString: strerror(errno))) }
            try deadline.wait(for: descriptor, events: Int16(POLLOUT))
            var status: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(descriptor, SOL_SOCKET, SO_ERROR, &status, &length)
            guard status == 0 else { throw HTTPPostError(.connect, String(cString: strerror(status))) }
        }
        return connection
    }

    /// Waits until the socket is ready for `events`.
    func wait(for events: Int16) throws(HTTPPostError) {
        try deadline.wait(for: descriptor, events: events)
    }

    /// Sends all of `bytes`.
    func send(_ bytes: [UInt8]) throws(HTTPPostError) {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes[offset...].withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if sent >= 0 {
                offset += sent
            } else if errno == EAGAIN || errno == EINTR {
                try wait(for: Int16(POLLOUT))
            } else {
                throw HTTPPostError(.io, "send: \(String(cString: strerror(errno)))")
            }
        }
    }

    /// Reads what has arrived (waiting for something); an empty array means the peer closed.
    func receive() throws(HTTPPostError) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            if count >= 0 { return Array(buffer[..<count]) }
            guard errno == EAGAIN || errno == EINTR else { throw HTTPPostError(.io, "recv: \(String(cString: strerror(errno)))") }
            try wait(for: Int16(POLLIN))
        }
    }
}
