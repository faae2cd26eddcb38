/// Why a POST got no HTTP response.
public struct HTTPPostError: Error, CustomStringConvertible, Sendable {
    /// The stage that failed.
    public enum Code: Sendable, Equatable {
        /// The URL is not `http://` or `https://` with a host.
        case invalidURL
        /// The host name did not resolve.
        case resolve
        /// No address accepted the connection.
        case connect
        /// The TLS handshake or certificate check failed.
        case tls
        /// Sending the request or reading the response failed.
        case io
        /// The receiver answered something other than an HTTP/1.x response head.
        case malformedResponse
        /// The deadline passed.
        case timeout
        /// The calling task was cancelled.
        case cancelled
    }

    public var code: Code
    public var description: String

    public init(_ code: Code, _ description: String) {
        self.code = code
        self.description = description
    }
}
