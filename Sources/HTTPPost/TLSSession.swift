import COpenSSL
import Glibc

/// A TLS client session (OpenSSL, which libpq loads anyway) over a ``TCPConnection``: TLS 1.2
/// or later, the server's chain checked against the system trust store (`SSL_CERT_FILE` and
/// `SSL_CERT_DIR` override it) and its certificate against the URL's host name or address.
final class TLSSession {
    private let connection: TCPConnection
    private let context: OpaquePointer
    private let session: OpaquePointer

    init(over connection: TCPConnection, host: String) throws(HTTPPostError) {
        guard let context = SSL_CTX_new(TLS_client_method()) else { throw Self.failure("SSL_CTX_new") }
        guard let session = SSL_new(context) else {
            SSL_CTX_free(context)
            throw Self.failure("SSL_new")
        }
        self.connection = connection
        self.context = context
        self.session = session
        guard c77_SSL_CTX_set_min_proto_version(context, TLS1_2_VERSION) == 1,
              SSL_CTX_set_default_verify_paths(context) == 1,
              SSL_set_fd(session, connection.descriptor) == 1 else {
            throw Self.failure("TLS setup")
        }
        SSL_set_verify(session, SSL_VERIFY_PEER, nil)
        if Self.isAddress(host) {
            guard X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(session), host) == 1 else { throw Self.failure("TLS setup") }
        } else {
            guard SSL_set1_host(session, host) == 1, c77_SSL_set_tlsext_host_name(session, host) == 1 else {
                throw Self.failure("TLS setup")
            }
        }
        _ = try drive("TLS handshake with \(host)") { SSL_connect(session) }
    }

    deinit {
        SSL_free(session)
        SSL_CTX_free(context)
    }

    /// Sends all of `bytes`.
    func send(_ bytes: [UInt8]) throws(HTTPPostError) {
        var offset = 0
        while offset < bytes.count {
            offset += Int(try drive("TLS write") {
                bytes[offset...].withUnsafeBytes { SSL_write(session, $0.baseAddress, Int32(clamping: $0.count)) }
            })
        }
    }

    /// Reads what has arrived (waiting for something); an empty array means the peer closed.
    func receive() throws(HTTPPostError) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = try drive("TLS read") {
            buffer.withUnsafeMutableBytes { SSL_read(session, $0.baseAddress, Int32($0.count)) }
        }
        return Array(buffer[..<Int(count)])
    }

    /// Repeats an OpenSSL I/O call until it makes progress, waiting for the socket as asked;
    /// 0 when the peer closed the TLS session.
    private func drive(_ what: String, _ operation: () -> Int32) throws(HTTPPostError) -> Int32 {
        while true {
            ERR_clear_error()
            let result = operation()
            if result > 0 { return result }
            switch SSL_get_error(session, result) {
            case SSL_ERROR_WANT_READ:
                try connection.wait(for: Int16(POLLIN))
            case SSL_ERROR_WANT_WRITE:
                try connection.wait(for: Int16(POLLOUT))
            case SSL_ERROR_ZERO_RETURN:
                return 0
            default:
                let verification = SSL_get_verify_result(session)
                if verification != X509_V_OK {
                    throw HTTPPostError(.tls, "\(what): certificate verify failed: \(String(cString: X509_verify_cert_error_string(verification)))")
                }
                throw Self.failure(what)
            }
        }
    }

    /// The error for a failed OpenSSL call: the first queued OpenSSL error, or errno.
    private static func failure(_ what: String) -> HTTPPostError {
        let code = ERR_get_error()
        guard code != 0 else {
            return HTTPPostError(.tls, "\(what): \(errno == 0 ? "connection closed" : String(cString: strerror(errno)))")
        }
        var text = [UInt8](repeating: 0, count: 256)
        text.withUnsafeMutableBufferPointer { ERR_error_string_n(code, $0.baseAddress, $0.count) }
        return HTTPPostError(.tls, "\(what): \(String(decoding: text.prefix { $0 != 0 }, as: UTF8.self))")
    }

    private static func isAddress(_ host: String) -> Bool {
        var buffer = in6_addr()
        return inet_pton(AF_INET, host, &buffer) == 1 || inet_pton(AF_INET6, host, &buffer) == 1
    }
}
