import EssentialsSupport
import FoundationEssentials
import Glibc
import Synchronization

/// A disposable PostgreSQL cluster for tests and `c77-secure-dbd demo`.
///
/// The cluster lives in a fresh, short directory under `/tmp` (Unix socket paths are limited to
/// 107 bytes), listens only on a Unix socket in that directory (no TCP), on its own port, with
/// `trust` authentication for the `postgres` superuser and `fsync = off`. PostgreSQL refuses to
/// run as root, so as root the directory is handed to the `postgres` user and `initdb`/`pg_ctl`
/// run through `runuser -u postgres`.
///
/// Call ``destroy()`` when done (tests do it in `defer`): it stops the server and deletes the
/// directory, and is safe to call more than once. The methods block the calling thread while the
/// tools run (`start` about half a second, `psql` a few milliseconds).
public final class ThrowawayCluster: Sendable {
    /// The cluster's top directory (holds `data/`, `server.log` and the socket).
    public let directory: String
    /// The directory holding the server's Unix socket (`host=` for libpq).
    public let socketDirectory: String
    /// The server's port (names the socket file `.s.PGSQL.<port>`).
    public let port: Int
    /// The data directory (`postgresql.conf`, `pg_hba.conf`).
    public var dataDirectory: String { directory + "/data" }
    /// The server log file.
    public var logFile: String { directory + "/server.log" }

    private let binDirectory: String
    private let runsAsPostgres: Bool
    private let destroyed = Mutex(false)

    private init(directory: String, port: Int, binDirectory: String, runsAsPostgres: Bool) {
        self.directory = directory
        self.socketDirectory = directory
        self.port = port
        self.binDirectory = binDirectory
        self.runsAsPostgres = runsAsPostgres
    }

    /// Creates, configures and starts a new cluster.
    ///
    /// - Parameters:
    ///   - name: A short prefix for the directory name (`/tmp/<name>pg.XXXXXX`).
    ///   - settings: Extra `postgresql.conf` settings, e.g. `["log_min_messages": "debug1"]`;
    ///     values are quoted as PostgreSQL strings.
    /// - Throws: ``ThrowawayClusterError`` with the tool's output or the server log tail.
    public static func start(name: String = "c77", settings: [String: String] = [:]) throws -> ThrowawayCluster {
        let binDirectory = try Self.binDirectory()
        var template = Array("/tmp/\(name)pg.XXXXXX".utf8CString)
        guard let created = mkdtemp(&template) else {
            throw ThrowawayClusterError(operation: "mkdtemp", output: String(cString: strerror(errno)))
        }
        let directory = String(cString: created)
        let runsAsPostgres = geteuid() == 0
        let cluster = ThrowawayCluster(
            directory: directory, port: try Self.freePort(),
            binDirectory: binDirectory, runsAsPostgres: runsAsPostgres
        )
        do {
            if runsAsPostgres {
                guard let account = getpwnam("postgres") else {
                    throw ThrowawayClusterError(operation: "getpwnam(postgres)", output: "running as root needs a `postgres` user")
                }
                guard chown(directory, account.pointee.pw_uid, account.pointee.pw_gid) == 0 else {
                    throw ThrowawayClusterError(operation: "chown \(directory)", output: String(cString: strerror(errno)))
                }
            }
            try cluster.serverTool("initdb", [
                "-D", cluster.dataDirectory, "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8", "--locale=C",
            ])
            var conf = """

                # throwaway cluster
                port = \(cluster.port)
                listen_addresses = ''
                unix_socket_directories = \(quoted(directory))
                fsync = off

                """
            for (key, value) in settings.sorted(by: { $0.key < $1.key }) {
                conf += "\(key) = \(quoted(value))\n"
            }
            let confFile = URL(fileURLWithPath: cluster.dataDirectory + "/postgresql.conf")
            try (Data(contentsOf: confFile) + Data(conf.utf8)).write(to: confFile)
            try cluster.start()
        } catch {
            cluster.destroy()
            throw error
        }
        return cluster
    }

    /// A libpq keyword/value connection string for this cluster.
    public func conninfo(database: String = "postgres", user: String = "postgres") -> String {
        "host=\(Self.quoted(socketDirectory)) port=\(port) dbname=\(Self.quoted(database)) user=\(Self.quoted(user))"
    }

    /// Runs SQL through `psql -X -v ON_ERROR_STOP=1 -At` and returns its output without the final newline.
    ///
    /// - Throws: ``ThrowawayClusterError`` carrying psql's stderr when psql fails.
    @discardableResult
    public func psql(_ sql: String, database: String = "postgres", user: String = "postgres") throws -> String {
        let script = directory + "/psql-\(UUID().uuidString).sql"
        try Data(sql.utf8).write(to: URL(fileURLWithPath: script))
        defer { try? FileManager.default.removeItem(atPath: script) }
        let result = try Self.run(binDirectory + "/psql", [
            "-X", "-v", "ON_ERROR_STOP=1", "-At", "-h", socketDirectory, "-p", String(port),
            "-U", user, "-d", database, "-f", script,
        ], scratch: directory)
        guard result.status == 0 else {
            throw ThrowawayClusterError(operation: "psql", output: result.error)
        }
        return result.output.hasSuffix("\n") ? String(result.output.dropLast()) : result.output
    }

    /// Creates a database owned by `postgres`.
    public func createDatabase(_ name: String) throws {
        try psql("CREATE DATABASE \"\(name.replacing("\"", with: "\"\""))\"")
    }

    /// Starts the (stopped) server on the same directory and port; waits until it accepts connections.
    public func start() throws {
        do {
            try serverTool("pg_ctl", ["-D", dataDirectory, "-l", logFile, "-w", "-t", "60", "start"])
        } catch var error as ThrowawayClusterError {
            error.output += "\n--- server log (tail) ---\n" + logTail()
            throw error
        }
    }

    /// Stops the server with a fast shutdown (sessions are terminated) and waits for it.
    public func stop() throws {
        try serverTool("pg_ctl", ["-D", dataDirectory, "-m", "fast", "-w", "stop"])
    }

    /// Stops and starts the server again; connected clients lose their sessions.
    public func restart() throws {
        try stop()
        try start()
    }

    /// Stops the server immediately and deletes the directory. Idempotent; never throws.
    public func destroy() {
        let first = destroyed.withLock { done in
            defer { done = true }
            return !done
        }
        guard first else { return }
        if FileManager.default.fileExists(atPath: dataDirectory + "/postmaster.pid") {
            _ = try? serverTool("pg_ctl", ["-D", dataDirectory, "-m", "immediate", "-w", "stop"])
        }
        try? FileManager.default.removeItem(atPath: directory)
    }

    // MARK: - Helpers

    /// Runs a server tool (`initdb`, `pg_ctl`), as `postgres` when we are root.
    private func serverTool(_ tool: String, _ arguments: [String]) throws {
        let path = binDirectory + "/" + tool
        let result = runsAsPostgres
            ? try Self.run(Self.runuser(), ["-u", "postgres", "--", path] + arguments, scratch: directory)
            : try Self.run(path, arguments, scratch: directory)
        guard result.status == 0 else {
            throw ThrowawayClusterError(operation: ([tool] + arguments).joined(separator: " "), output: result.output + result.error)
        }
    }

    private func logTail(lines: Int = 30) -> String {
        guard let log = try? String(contentsOfFile: logFile, encoding: .utf8) else { return "(no server log)" }
        return log.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
    }

    /// Runs a program to completion with the environment minus `PG*` variables.
    private static func run(_ executable: String, _ arguments: [String], scratch: String) throws -> (status: Int32, output: String, error: String) {
        do {
            return try ChildProcess.run(executable, arguments, environment: ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("PG") }, scratch: scratch)
        } catch {
            throw ThrowawayClusterError(operation: executable, output: error.description)
        }
    }

    /// The PostgreSQL server binaries: `$PG_CONFIG --bindir` (as in PGXS), else `pg_config
    /// --bindir`, else Debian's PostgreSQL 15 location.
    private static func binDirectory() throws -> String {
        let candidates = [ProcessInfo.processInfo.environment["PG_CONFIG"], "/usr/bin/pg_config", "/usr/local/bin/pg_config"].compactMap { $0 }
        if let pgConfig = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }),
           let result = try? run(pgConfig, ["--bindir"], scratch: FileManager.default.temporaryDirectory.path), result.status == 0 {
            let dir = result.output.trimmingWhitespace()
            if FileManager.default.isExecutableFile(atPath: dir + "/initdb") { return dir }
        }
        let fallback = "/usr/lib/postgresql/15/bin"
        guard FileManager.default.isExecutableFile(atPath: fallback + "/initdb") else {
            throw ThrowawayClusterError(operation: "locate initdb", output: "no initdb in `pg_config --bindir` or \(fallback)")
        }
        return fallback
    }

    private static func runuser() throws -> String {
        guard let path = ["/usr/sbin/runuser", "/sbin/runuser"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw ThrowawayClusterError(operation: "locate runuser", output: "running as root needs runuser(1)")
        }
        return path
    }

    /// A port no local TCP listener uses (the kernel picks it), so settings that enable TCP still work.
    private static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ThrowawayClusterError(operation: "socket", output: String(cString: strerror(errno))) }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
                bind(fd, raw, length) == 0 && getsockname(fd, raw, &length) == 0
            }
        }
        guard bound else { throw ThrowawayClusterError(operation: "bind", output: String(cString: strerror(errno))) }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// A PostgreSQL/libpq single-quoted string literal.
    private static func quoted(_ value: String) -> String {
        "'" + value.replacing("\\", with: "\\\\").replacing("'", with: "\\'") + "'"
    }
}
