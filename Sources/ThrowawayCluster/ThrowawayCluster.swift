import Foundation
import Glibc

/// A PostgreSQL cluster that exists only for a test suite or `c77-secure-dbd demo`: a
/// fresh `initdb` in a short directory under /tmp, listening only on a Unix socket in that
/// directory (no TCP), on its own port, with `trust` authentication for local connections.
///
/// PostgreSQL refuses to run as root, so as root the server runs as the `postgres` user,
/// who then owns the directory. `destroy()` stops the server and removes everything.
public final class ThrowawayCluster: Sendable {
    /// A step of setting up or using the cluster that failed; the message includes the
    /// command's output (or the server log's end).
    public struct ClusterError: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    /// The cluster's own directory (data directory, socket, logs).
    public let directory: String
    /// Where the server's Unix socket lives (the `host` to connect to).
    public let socketDirectory: String
    public let port: Int
    private let binDirectory: String
    private let runAsPostgres: Bool

    private var dataDirectory: String { directory + "/data" }
    private var logFile: String { directory + "/server.log" }

    private init(directory: String, port: Int, binDirectory: String, runAsPostgres: Bool) {
        self.directory = directory
        self.socketDirectory = directory
        self.port = port
        self.binDirectory = binDirectory
        self.runAsPostgres = runAsPostgres
    }

    /// Creates and starts a new cluster.
    /// - Parameters:
    ///   - name: a short prefix for the directory name.
    ///   - settings: extra `postgresql.conf` settings.
    public static func start(name: String = "c77", settings: [String: String] = [:]) throws -> ThrowawayCluster {
        let binDirectory = try run("/usr/bin/env", ["pg_config", "--bindir"]).trimmingCharacters(in: .whitespacesAndNewlines)
        var template = Array("/tmp/\(name).XXXXXX".utf8CString)
        guard let created = mkdtemp(&template) else { throw ClusterError(description: "mkdtemp failed: \(String(cString: strerror(errno)))") }
        let directory = String(cString: created)
        let runAsPostgres = geteuid() == 0
        if runAsPostgres {
            guard let user = getpwnam("postgres") else { throw ClusterError(description: "running as root needs a 'postgres' user") }
            chown(directory, user.pointee.pw_uid, user.pointee.pw_gid)
        }
        let cluster = ThrowawayCluster(directory: directory, port: freePort(), binDirectory: binDirectory, runAsPostgres: runAsPostgres)
        do {
            try cluster.asOwner("initdb", ["-D", cluster.dataDirectory, "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8", "--locale=C"])
            var configuration = [
                "port": String(cluster.port), "listen_addresses": "''", "unix_socket_directories": "'\(directory)'",
                "fsync": "off", "synchronous_commit": "off", "full_page_writes": "off", "max_connections": "100",
            ]
            for (key, value) in settings { configuration[key] = value }
            let lines = configuration.sorted { $0.key < $1.key }.map { "\($0.key) = \($0.value)" }.joined(separator: "\n")
            try cluster.appendAsOwner(lines + "\n", to: cluster.dataDirectory + "/postgresql.auto.conf")
            try cluster.start()
        } catch {
            cluster.destroy()
            throw error
        }
        return cluster
    }

    /// A libpq keyword/value connection string for the cluster.
    public func conninfo(database: String = "postgres", user: String = "postgres") -> String {
        "host=\(socketDirectory) port=\(port) dbname=\(database) user=\(user)"
    }

    /// Runs SQL with psql (stopping at the first error) and returns its unaligned,
    /// tuples-only output without the final newline.
    @discardableResult
    public func psql(_ sql: String, database: String = "postgres", user: String = "postgres") throws -> String {
        let file = directory + "/psql-\(UUID().uuidString).sql"
        try sql.write(toFile: file, atomically: true, encoding: .utf8)
        chmod(file, 0o644)
        defer { unlink(file) }
        let output = try Self.run(binDirectory + "/psql", [
            "-X", "-q", "-v", "ON_ERROR_STOP=1", "-At", "-h", socketDirectory, "-p", String(port), "-U", user, "-d", database, "-f", file,
        ])
        return output.hasSuffix("\n") ? String(output.dropLast()) : output
    }

    /// Creates a database.
    public func createDatabase(_ name: String) throws {
        try psql("CREATE DATABASE \"\(name.replacingOccurrences(of: "\"", with: "\"\""))\"")
    }

    /// Starts the server (again) on the same port and socket.
    public func start() throws {
        do {
            try asOwner("pg_ctl", ["-D", dataDirectory, "-l", logFile, "-w", "-t", "30", "start"])
        } catch {
            throw ClusterError(description: "\(error)\n--- server log ---\n\(serverLogTail())")
        }
    }

    /// Stops the server quickly (fast shutdown); `start()` brings it back.
    public func stop() throws {
        try asOwner("pg_ctl", ["-D", dataDirectory, "-m", "fast", "-w", "stop"])
    }

    /// Stops and starts the server, as a database restart would look to clients.
    public func restart() throws {
        try stop()
        try start()
    }

    /// Stops the server at once and deletes the cluster. Safe to call more than once.
    public func destroy() {
        if FileManager.default.fileExists(atPath: dataDirectory + "/postmaster.pid") {
            _ = try? asOwner("pg_ctl", ["-D", dataDirectory, "-m", "immediate", "-w", "stop"])
        }
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// The last lines of the server log.
    public func serverLogTail(lines: Int = 30) -> String {
        let text = (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? ""
        return text.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
    }

    @discardableResult
    private func asOwner(_ tool: String, _ arguments: [String]) throws -> String {
        let path = binDirectory + "/" + tool
        if runAsPostgres {
            return try Self.run("/usr/sbin/runuser", ["-u", "postgres", "--", path] + arguments)
        }
        return try Self.run(path, arguments)
    }

    private func appendAsOwner(_ text: String, to path: String) throws {
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(text.utf8))
    }

    /// Runs a program and returns its standard output; throws with its output when it fails.
    @discardableResult
    static func run(_ path: String, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: "/tmp")
        let output = Pipe(), errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let collected = LockedData()
        let reader = Thread { collected.set(errors.fileHandleForReading.readDataToEndOfFile()) }
        reader.start()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        while !collected.isSet { usleep(1000) }
        let text = String(decoding: data, as: UTF8.self)
        guard process.terminationStatus == 0 else {
            throw ClusterError(description: "\((path as NSString).lastPathComponent) \(arguments.joined(separator: " ")) failed (\(process.terminationStatus)): \(String(decoding: collected.data, as: UTF8.self))\(text)")
        }
        return text
    }

    /// A TCP port nobody listens on right now, for the cluster's port number (the socket
    /// file name includes it, so two clusters never clash even though they listen on no TCP port).
    private static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        let port = Int(UInt16(bigEndian: address.sin_port))
        return port > 0 ? port : 20_000 + Int.random(in: 0..<20_000)
    }
}

/// Bytes handed from a reader thread.
private final class LockedData: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Data?
    func set(_ data: Data) { lock.withLock { value = data } }
    var isSet: Bool { lock.withLock { value != nil } }
    var data: Data { lock.withLock { value ?? Data() } }
}
