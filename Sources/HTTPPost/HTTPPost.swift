import EssentialsSupport
import FoundationEssentials

/// One HTTP/1.1 POST per connection (`Connection: close`), over TCP for `http://` and TLS for
/// `https://` URLs; reads the response head and ignores the body.
///
/// The socket work runs on a thread of its own, never on a Swift concurrency thread; the
/// whole exchange, name resolution included, ends at `timeout` or soon after the calling task
/// is cancelled.
public enum HTTPPost {
    /// Posts `body` to `url` with the given header fields (`Host`, `Content-Length` and
    /// `Connection` are added).
    ///
    /// - Returns: The response's status and header fields.
    /// - Throws: ``HTTPPostError`` when no complete response head arrived.
    public static func send(
        to url: URL, headers: [(name: String, value: String)], body: [UInt8], timeout: Duration
    ) async throws(HTTPPostError) -> HTTPResponseHead {
        let target = try Target(url)
        let request = target.request(headers: headers, body: body)
        let deadline = PostDeadline(timeout: timeout)
        let result = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Result<HTTPResponseHead, HTTPPostError>, Never>) in
                DetachedThread.start(name: "c77-http-post") {
                    continuation.resume(returning: Result { () throws(HTTPPostError) in try exchange(request, with: target, deadline: deadline) })
                }
            }
        } onCancel: {
            deadline.cancel()
        }
        return try result.get()
    }

    /// Connects, sends the request and reads until the response head is complete.
    private static func exchange(_ request: [UInt8], with target: Target, deadline: PostDeadline) throws(HTTPPostError) -> HTTPResponseHead {
        let connection = try TCPConnection.connect(host: target.host, port: target.port, deadline: deadline)
        let tls = target.secure ? try TLSSession(over: connection, host: target.host) : nil
        if let tls { try tls.send(request) } else { try connection.send(request) }
        var received: [UInt8] = []
        while true {
            let chunk: [UInt8]
            if let tls { chunk = try tls.receive() } else { chunk = try connection.receive() }
            guard !chunk.isEmpty else {
                throw HTTPPostError(.malformedResponse, received.isEmpty ? "connection closed without a response" : "connection closed inside the response head")
            }
            received += chunk
            if let head = try HTTPResponseHead.parse(received) { return head }
            guard received.count <= 65_536 else { throw HTTPPostError(.malformedResponse, "response head longer than 64 KiB") }
        }
    }

    /// Where a URL points: scheme, host, port and request target.
    private struct Target: Sendable {
        var secure: Bool
        var host: String
        var port: Int
        var path: String

        init(_ url: URL) throws(HTTPPostError) {
            let scheme = url.scheme?.lowercased()
            guard scheme == "http" || scheme == "https", let host = url.host(percentEncoded: false), !host.isEmpty else {
                throw HTTPPostError(.invalidURL, "'\(url.absoluteString)' is not an http:// or https:// URL")
            }
            secure = scheme == "https"
            self.host = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
            port = url.port ?? (secure ? 443 : 80)
            let encodedPath = url.path(percentEncoded: true)
            path = (encodedPath.isEmpty ? "/" : encodedPath) + (url.query(percentEncoded: true).map { "?" + $0 } ?? "")
        }

        /// The request bytes: head and body.
        func request(headers: [(name: String, value: String)], body: [UInt8]) -> [UInt8] {
            let authority = host.contains(":") ? "[\(host)]" : host
            var head = "POST \(path) HTTP/1.1\r\nHost: \(authority)"
            if port != (secure ? 443 : 80) { head += ":\(port)" }
            head += "\r\nContent-Length: \(body.count)\r\nConnection: close\r\n"
            for (name, value) in headers { head += "\(name): \(value)\r\n" }
            return Array((head + "\r\n").utf8) + body
        }
    }
}
