import Foundation

/// An HTTPS endpoint for `localhost` with a fresh self-signed certificate: python3's
/// `http.server` wrapped in TLS, answering 202 to every POST.
final class TLSTestServer {
    let port: Int
    /// The certificate (PEM), to trust through `SSL_CERT_FILE`.
    let certificate: String
    private let directory: URL
    private let process: Process

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("c77tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        certificate = directory.appendingPathComponent("cert.pem").path
        let key = directory.appendingPathComponent("key.pem").path
        try Self.run("/usr/bin/openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                                          "-addext", "subjectAltName=DNS:localhost", "-keyout", key, "-out", certificate])
        let portFile = directory.appendingPathComponent("port").path
        let script = """
            import http.server, ssl, sys
            class Handler(http.server.BaseHTTPRequestHandler):
                def do_POST(self):
                    self.rfile.read(int(self.headers.get("Content-Length", 0)))
                    self.send_response(202); self.send_header("Content-Length", "0"); self.end_headers()
                def log_message(self, *args): pass
            server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); context.load_cert_chain(sys.argv[1], sys.argv[2])
            server.socket = context.wrap_socket(server.socket, server_side=True)
            open(sys.argv[3], "w").write(str(server.server_address[1]))
            server.serve_forever()
            """
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = ["-c", script, certificate, key, portFile]
        try process.run()
        let deadline = ContinuousClock.now + .seconds(10)
        while (try? String(contentsOfFile: portFile, encoding: .utf8))?.isEmpty ?? true {
            guard ContinuousClock.now < deadline, process.isRunning else { throw CocoaError(.fileReadNoSuchFile) }
            usleep(20_000)
        }
        port = Int(try String(contentsOfFile: portFile, encoding: .utf8))!
    }

    func stop() {
        kill(process.processIdentifier, SIGKILL)   // the test runner's blocked signals are the child's too
        process.waitUntilExit()
        try? FileManager.default.removeItem(at: directory)
    }

    private static func run(_ executable: String, _ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw CocoaError(.executableLoad) }
    }
}
