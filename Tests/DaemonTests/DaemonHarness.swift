import ControlSocket
import Foundation
import Glibc
import LocalReceivers
import ThrowawayCluster

/// Runs the built `c77-secure-dbd` as a child process against a throwaway cluster, the way
/// systemd would: with a NOTIFY_SOCKET the test listens on, and a journald stand-in.
final class DaemonHarness: @unchecked Sendable {
    let cluster: ThrowawayCluster
    let directory: String
    let notify: DatagramListener
    let journal: DatagramListener
    let database = "c77test"
    let monitorRole = "c77_monitor"
    private(set) var process: Process?

    var socketPath: String { directory + "/ctl.sock" }
    var configPath: String { directory + "/c77-secure-dbd.ini" }
    var stateDirectory: String { directory + "/state" }
    var logPath: String { directory + "/daemon.log" }

    /// The directory the test binary was built into; the daemon and CLI are built next to it.
    static var binDirectory: String {
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var url = URL(fileURLWithPath: executable)
        while url.path != "/" {
            url.deleteLastPathComponent()
            if FileManager.default.isExecutableFile(atPath: url.appendingPathComponent("c77-secure-dbd").path) { return url.path }
        }
        return URL(fileURLWithPath: executable).deletingLastPathComponent().path
    }

    static var daemonPath: String { binDirectory + "/c77-secure-dbd" }
    static var ctlPath: String { binDirectory + "/c77-secure-dbctl" }

    init() throws {
        cluster = try ThrowawayCluster.start(name: "c77d")
        directory = cluster.directory + "/daemon"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        notify = try DatagramListener(path: directory + "/notify.sock")
        journal = try DatagramListener(path: directory + "/journal.sock")
        try cluster.createDatabase(database)
        _ = try cluster.psql("""
            CREATE EXTENSION c77_secure_db;
            CREATE ROLE \(monitorRole) LOGIN;
            GRANT c77_secure_db_monitor TO \(monitorRole);
            CREATE SCHEMA shop;
            CREATE TABLE shop.orders (
                id BIGSERIAL PRIMARY KEY, customer TEXT NOT NULL, amount NUMERIC(12,2), note TEXT,
                content_hash TEXT, hash_version INTEGER DEFAULT 1,
                created_at TIMESTAMPTZ DEFAULT now(), updated_at TIMESTAMPTZ DEFAULT now(), deleted_at TIMESTAMPTZ);
            SELECT c77_secure_db_manage_secure_schemas('add', 'shop');
            """, database: database)
    }

    /// The configuration text with the test's socket, state directory and database filled in.
    func config(_ extra: String = "") -> String {
        """
        [daemon]
        socket = \(socketPath)
        socket_mode = 0600
        state_directory = \(stateDirectory)
        log_level = debug
        shutdown_timeout = 5s

        [database]
        conninfo = \(cluster.conninfo(database: database, user: monitorRole))
        connect_timeout = 3s

        [sink.journald]
        socket = \(journal.path)

        \(extra)
        """
    }

    func writeConfig(_ text: String) throws {
        try text.write(toFile: configPath, atomically: true, encoding: .utf8)
    }

    /// Starts the daemon and waits for READY=1.
    @discardableResult
    func start(environment extra: [String: String] = [:]) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.daemonPath)
        process.arguments = ["--config", configPath]
        var environment = ProcessInfo.processInfo.environment
        environment["NOTIFY_SOCKET"] = notify.path
        environment["JOURNAL_STREAM"] = nil
        for (key, value) in extra { environment[key] = value }
        process.environment = environment
        FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        log.seekToEndOfFile()
        process.standardOutput = log
        process.standardError = log
        try process.run()
        self.process = process
        guard waitForNotify({ $0.contains("READY=1") }, timeout: .seconds(20)) != nil else {
            throw HarnessError("daemon did not send READY=1; log:\n\(self.log())")
        }
        return process
    }

    /// The next sd_notify datagram matching `predicate`.
    func waitForNotify(_ predicate: @escaping (String) -> Bool, timeout: Duration = .seconds(10)) -> String? {
        notify.receive(until: { predicate(String(decoding: $0, as: UTF8.self)) }, timeout: timeout)
            .map { String(decoding: $0, as: UTF8.self) }
    }

    func send(_ request: ControlRequest) throws -> ControlResponse {
        try ControlClient.send(request, socketPath: socketPath, timeout: .seconds(10))
    }

    func signal(_ signo: Int32) {
        if let process { kill(process.processIdentifier, signo) }
    }

    /// Stops the daemon with SIGTERM and returns its exit status.
    @discardableResult
    func stop() -> Int32? {
        guard let process, process.isRunning else { return process?.terminationStatus }
        process.terminate()
        process.waitUntilExit()
        return process.terminationStatus
    }

    func log() -> String {
        (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
    }

    /// Runs a CLI binary and returns its exit status and output.
    static func run(_ path: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// The outcome of a job's last finished run, as `jobs` reports it.
    func lastOutcome(_ job: String) -> String? {
        guard case .success(let jobs)? = try? send(ControlRequest(cmd: "jobs")) else { return nil }
        return jobs.arrayValue?.first { $0["name"]?.stringValue == job }?["last_run"]?["outcome"]?.stringValue
    }

    deinit {
        stop()
        cluster.destroy()
    }
}

struct HarnessError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Polls `condition` every 50 ms until it holds or `timeout` passes.
func eventually(timeout: Duration = .seconds(10), _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try condition() { return true }
        Thread.sleep(forTimeInterval: 0.05)
    }
    return try condition()
}
