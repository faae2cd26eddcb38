import Glibc

/// Thin helpers over the Unix stream-socket system calls both sides use.
enum UnixSocket {
    /// The longest socket path, in bytes: `sun_path` less its terminating NUL.
    static let maxPathLength = MemoryLayout<sockaddr_un>.size - MemoryLayout<sa_family_t>.size - 1

    /// Whether `path` fits in a `sockaddr_un` and contains no NUL byte.
    static func isValidPath(_ path: String) -> Bool {
        let bytes = path.utf8
        return !bytes.isEmpty && bytes.count <= maxPathLength && !bytes.contains(0)
    }

    /// Calls `body` with `path` as a socket address. `path` must be valid (see ``isValidPath(_:)``).
    static func withAddress<R>(_ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
        precondition(isValidPath(path), "invalid Unix socket path")
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: path.utf8)
            raw[path.utf8.count] = 0
        }
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                body($0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
    }

    /// A new close-on-exec stream socket, or -1 with `errno` set.
    static func makeStreamSocket() -> Int32 {
        socket(AF_UNIX, Int32(SOCK_STREAM.rawValue | SOCK_CLOEXEC.rawValue), 0)
    }

    /// Connects `fd` to `path`; returns 0 or the `errno` of the failure.
    static func connect(_ fd: Int32, to path: String) -> Int32 {
        while true {
            let result = withAddress(path) { Glibc.connect(fd, $0, $1) }
            if result == 0 { return 0 }
            if errno != EINTR { return errno }
        }
    }

    /// Whether some process accepts connections on the socket at `path`, or the `errno` that says no.
    static func probe(_ path: String) -> Int32 {
        let fd = makeStreamSocket()
        guard fd >= 0 else { return errno }
        defer { close(fd) }
        return connect(fd, to: path)
    }

    /// Sends all of `bytes`, without raising SIGPIPE. Returns `false` when the peer is gone or a
    /// send timeout (`SO_SNDTIMEO`) expired.
    static func sendAll(_ fd: Int32, _ bytes: [UInt8], flags: Int32 = 0) -> Bool {
        var sent = 0
        while sent < bytes.count {
            let result = bytes.withUnsafeBytes { raw in
                send(fd, raw.baseAddress! + sent, raw.count - sent, flags | Int32(MSG_NOSIGNAL))
            }
            if result > 0 {
                sent += result
            } else if result < 0 && errno == EINTR {
                continue
            } else {
                return false
            }
        }
        return true
    }

    /// Sets the send timeout (`SO_SNDTIMEO`) of `fd`.
    static func setSendTimeout(_ fd: Int32, _ timeout: Duration) {
        let seconds = max(timeout, .milliseconds(1)).components
        var value = timeval(tv_sec: Int(seconds.seconds), tv_usec: Int(seconds.attoseconds / 1_000_000_000_000))
        _ = setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &value, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Waits until `fd` has one of `events` or `timeout` passes; returns the events seen (0 on timeout).
    static func wait(_ fd: Int32, for events: Int16, timeout: Duration) -> Int16 {
        var entry = pollfd(fd: fd, events: events, revents: 0)
        let milliseconds = milliseconds(timeout)
        while true {
            let result = poll(&entry, 1, milliseconds)
            if result >= 0 { return result == 0 ? 0 : entry.revents }
            if errno != EINTR { return Int16(POLLERR) }
        }
    }

    /// `timeout` in whole milliseconds for `poll`, rounded up and clamped to `0...Int32.max`.
    static func milliseconds(_ timeout: Duration) -> Int32 {
        let (seconds, attoseconds) = timeout.components
        guard seconds >= 0 else { return 0 }
        let total = seconds.multipliedReportingOverflow(by: 1000)
        guard !total.overflow else { return Int32.max }
        let rounded = total.partialValue + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
        return Int32(clamping: rounded)
    }

    /// The system's text for an `errno` value.
    static func describe(_ code: Int32) -> String {
        String(cString: strerror(code))
    }
}
