import Crypto
import EssentialsSupport
import FoundationEssentials
import Glibc
import Synchronization

/// A small, real HTTP/1.1 webhook receiver on 127.0.0.1, for tests and the demo: it verifies
/// Standard Webhooks signatures, records every request, and answers as told (status code,
/// a number of failures, a delay, a Retry-After header), so outages can be simulated.
public final class WebhookReceiver: Sendable {
    /// One request as received.
    public struct Delivery: Sendable {
        public var id: String?
        public var timestamp: String?
        /// Whether `webhook-signature` verified against the secret; nil without a secret.
        public var signatureValid: Bool?
        public var body: Data
        /// The status the receiver answered with.
        public var status: Int
        /// The body as text.
        public var bodyText: String { String(decoding: body, as: UTF8.self) }
    }

    /// How the receiver answers.
    public struct Behaviour: Sendable {
        public var status = 200
        /// Answer 500 to this many requests first.
        public var failNext = 0
        public var delay: Duration = .zero
        public var retryAfter: String?
        public init() {}
    }

    public let port: Int
    private let listenFD: Int32
    private let key: Data?
    private let state = Mutex<(deliveries: [Delivery], behaviour: Behaviour, stopped: Bool)>(([], Behaviour(), false))

    /// Starts listening on 127.0.0.1 (`port` 0 picks a free port).
    /// - Parameter secret: a `whsec_…` secret to verify signatures with.
    public init(port: Int = 0, secret: String? = nil) throws {
        key = secret.flatMap { Data(base64Encoded: String($0.dropFirst("whsec_".count))) }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 64) == 0 else {
            let message = String(cString: strerror(errno))
            close(fd)
            throw DatagramListener.SocketError(description: "webhook receiver: \(message)")
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        withUnsafeMutablePointer(to: &address) {
            _ = $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        listenFD = fd
        self.port = Int(UInt16(bigEndian: address.sin_port))
        DetachedThread.start(name: "webhook-accept") { [self] in acceptLoop() }
    }

    /// The URL to configure as `[sink.webhook] url`.
    public var url: String { "http://127.0.0.1:\(port)/alerts" }

    /// Every request so far, oldest first.
    public var deliveries: [Delivery] { state.withLock { $0.deliveries } }

    /// Changes how later requests are answered.
    public func setBehaviour(_ behaviour: Behaviour) {
        state.withLock { $0.behaviour = behaviour }
    }

    /// Stops accepting connections.
    public func stop() {
        let first = state.withLock { state -> Bool in
            defer { state.stopped = true }
            return !state.stopped
        }
        if first { shutdown(listenFD, Int32(SHUT_RDWR)) }
    }

    deinit {
        stop()
        close(listenFD)
    }

    private func acceptLoop() {
        while true {
            let client = accept(listenFD, nil, nil)
            if client < 0 {
                if errno == EINTR { continue }
                return
            }
            DetachedThread.start(name: "webhook-client") { [self] in handle(client) }
        }
    }

    private func handle(_ client: Int32) {
        defer { close(client) }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var buffer = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 65536)
        var headerEnd: Int?
        while headerEnd == nil {
            let count = read(client, &chunk, chunk.count)
            guard count > 0 else { return }
            buffer.append(contentsOf: chunk[0..<count])
            headerEnd = buffer.indices.dropLast(3).first { buffer[$0] == 13 && buffer[$0 + 1] == 10 && buffer[$0 + 2] == 13 && buffer[$0 + 3] == 10 }
        }
        let head = String(decoding: buffer[0..<headerEnd!], as: UTF8.self)
        var headers: [String: String] = [:]
        for line in head.split(separator: "\r\n").dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingWhitespace()
        }
        let length = Int(headers["content-length"] ?? "0") ?? 0
        var body = Array(buffer[(headerEnd! + 4)...])
        while body.count < length {
            let count = read(client, &chunk, min(chunk.count, length - body.count))
            guard count > 0 else { return }
            body.append(contentsOf: chunk[0..<count])
        }

        let (status, behaviour) = state.withLock { state -> (Int, Behaviour) in
            if state.behaviour.failNext > 0 {
                state.behaviour.failNext -= 1
                return (500, state.behaviour)
            }
            return (state.behaviour.status, state.behaviour)
        }
        if behaviour.delay > .zero {
            var pause = timespec(tv_sec: Int(behaviour.delay.components.seconds), tv_nsec: Int(behaviour.delay.components.attoseconds / 1_000_000_000))
            var remaining = timespec()
            while nanosleep(&pause, &remaining) != 0 && errno == EINTR { pause = remaining }
        }
        let delivery = Delivery(
            id: headers["webhook-id"], timestamp: headers["webhook-timestamp"],
            signatureValid: verify(headers: headers, body: Data(body)), body: Data(body), status: status
        )
        state.withLock { $0.deliveries.append(delivery) }

        var response = "HTTP/1.1 \(status) \(status < 300 ? "OK" : "Error")\r\nContent-Length: 0\r\nConnection: close\r\n"
        if let retryAfter = behaviour.retryAfter, status >= 300 { response += "Retry-After: \(retryAfter)\r\n" }
        response += "\r\n"
        _ = response.withCString { write(client, $0, strlen($0)) }
    }

    private func verify(headers: [String: String], body: Data) -> Bool? {
        guard let key else { return nil }
        guard let id = headers["webhook-id"], let timestamp = headers["webhook-timestamp"],
              let signatures = headers["webhook-signature"] else { return false }
        var message = Data("\(id).\(timestamp).".utf8)
        message.append(body)
        let expected = Data(HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: key))).base64EncodedString()
        return signatures.split(separator: " ").contains { $0 == "v1,\(expected)" }
    }
}
