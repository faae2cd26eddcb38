import ControlSocket
import Foundation
import Glibc
import ThrowawayCluster

/// The demo's script: every step prints what it does, and everything it starts is stopped
/// and removed at the end, on failure, and on Ctrl-C (unless `--keep`).
struct Demo {
    let keep: Bool

    private let database = "c77demo"
    private let monitorRole = "c77_monitor"
    private let sampleRows = 2000

    func run() async throws {
        let binaries = try DemoBinaries.locate()
        step("Installing the c77_secure_db extension files")
        try ExtensionInstaller.ensureInstalled(extensionDirectory: binaries.extensionDirectory)

        step("Starting a throwaway PostgreSQL cluster")
        let cluster = try ThrowawayCluster.start(name: "c77demo")
        var daemon: Process?
        let cleanup = DemoCleanup(cluster: cluster)
        cleanup.installSignalHandlers()
        defer {
            if !keep { cleanup.run(daemon: daemon) }
        }
        detail("data directory \(cluster.directory), socket \(cluster.socketDirectory), port \(cluster.port)")

        step("Creating database \(database) with a secure schema and \(sampleRows) orders written through c77_secure_db_operation()")
        try cluster.createDatabase(database)
        _ = try cluster.psql(DemoSQL.setup(monitorRole: monitorRole, rows: sampleRows), database: database)
        let health = try cluster.psql("SELECT c77_secure_db_health_check()", database: database)
        detail("c77_secure_db_health_check() = \(health)")

        step("Starting c77-secure-dbd as role \(monitorRole) (granted c77_secure_db_monitor)")
        let configPath = try DemoConfig.write(
            directory: cluster.directory,
            conninfo: cluster.conninfo(database: database, user: monitorRole)
        )
        detail("configuration \(configPath)")
        let process = try binaries.startDaemon(configPath: configPath, logPath: cluster.directory + "/daemon.log")
        daemon = process
        cleanup.setDaemon(process)
        let socketPath = DemoConfig.socketPath(directory: cluster.directory)
        try await waitForDaemon(socketPath: socketPath, process: process)

        step("c77-secure-dbctl status")
        print(try binaries.ctl(["status", "--socket", socketPath]))

        if keep {
            step("Leaving everything running (--keep)")
            print("""
                  psql:     psql "\(cluster.conninfo(database: database))"
                  status:   \(binaries.ctlPath) status --socket \(socketPath)
                  daemon:   pid \(process.processIdentifier), log \(cluster.directory)/daemon.log
                  stop:     kill \(process.processIdentifier); then remove the cluster with: pg_ctl -D \(cluster.directory)/data stop; rm -rf \(cluster.directory)
                """)
        } else {
            step("Cleaning up: stopping the daemon and removing the cluster")
        }
    }

    private func waitForDaemon(socketPath: String, process: Process) async throws {
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            guard process.isRunning else { throw DemoError("the daemon exited with status \(process.terminationStatus); see its log") }
            if (try? ControlClient.send(ControlRequest(cmd: "version"), socketPath: socketPath, timeout: .seconds(1))) != nil {
                return
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw DemoError("the daemon did not answer on \(socketPath) within 30 s")
    }
}

/// A demo step that could not be completed.
struct DemoError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

private nonisolated(unsafe) var stepNumber = 0

/// Prints the heading of the next demo step.
func step(_ text: String) {
    stepNumber += 1
    print("\n==> \(stepNumber). \(text)")
}

/// Prints an indented detail line under the current step.
func detail(_ text: String) {
    print("    \(text)")
}
