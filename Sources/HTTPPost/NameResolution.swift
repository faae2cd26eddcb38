import EssentialsSupport
import Glibc
import Synchronization

/// The addresses `getaddrinfo` found for a host; freed with this object.
final class ResolvedAddresses: @unchecked Sendable {
    /// The first entry of the list (`ai_next` links the rest).
    let first: UnsafeMutablePointer<addrinfo>

    init(first: UnsafeMutablePointer<addrinfo>) {
        self.first = first
    }

    deinit {
        freeaddrinfo(first)
    }
}

/// Name resolution under a POST's deadline. `getaddrinfo` blocks and cannot be interrupted,
/// and a name server that does not answer holds it for resolv.conf's timeouts (5 s per try
/// and server by default); so it runs on a thread of its own, and the POST waits for it only
/// until its deadline or cancellation. A lookup given up on finishes unobserved.
enum NameResolution {
    /// Looks up a host and port (blocking).
    typealias Lookup = @Sendable (_ host: String, _ port: Int) -> Result<ResolvedAddresses, HTTPPostError>

    /// The addresses of `host`, or ``HTTPPostError/Code-swift.enum/resolve``; throws
    /// ``HTTPPostError/Code-swift.enum/timeout`` or `cancelled` if `deadline` ends the wait first.
    static func resolve(
        host: String, port: Int, deadline: PostDeadline, lookup: @escaping Lookup = systemLookup
    ) throws(HTTPPostError) -> ResolvedAddresses {
        var ends: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &ends) == 0 else {
            throw HTTPPostError(.io, "socketpair: \(String(cString: strerror(errno)))")
        }
        let waiting = Descriptor(ends[0])
        let signalling = Descriptor(ends[1])
        let outcome = Outcome()
        DetachedThread.start(name: "c77-resolve") {
            outcome.result.withLock { $0 = lookup(host, port) }
            var done: UInt8 = 1
            _ = send(signalling.value, &done, 1, Int32(MSG_NOSIGNAL))
        }
        try deadline.wait(for: waiting.value, events: Int16(POLLIN))
        guard let result = outcome.result.withLock({ $0 }) else {
            throw HTTPPostError(.io, "name resolution signalled no result")
        }
        return try result.get()
    }

    /// `getaddrinfo` for TCP, any address family.
    static let systemLookup: Lookup = { host, port in
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let resolved = getaddrinfo(host, String(port), &hints, &list)
        guard resolved == 0, let first = list else {
            return .failure(HTTPPostError(.resolve, "cannot resolve \(host): \(String(cString: gai_strerror(resolved)))"))
        }
        return .success(ResolvedAddresses(first: first))
    }

    /// What the lookup thread hands over.
    private final class Outcome: Sendable {
        let result = Mutex<Result<ResolvedAddresses, HTTPPostError>?>(nil)
    }

    /// A descriptor closed when the last of the waiter and the lookup thread lets go of it.
    private final class Descriptor: Sendable {
        let value: Int32

        init(_ value: Int32) {
            self.value = value
        }

        deinit {
            close(value)
        }
    }
}
