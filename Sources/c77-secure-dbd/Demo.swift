import ControlSocket
import EssentialsSupport
import FoundationEssentials
import Glibc
import LocalReceivers
import Logging
import Postgres
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
        var daemon: ChildProcess?
        let cleanup = DemoCleanup(cluster: cluster)
        cleanup.installSignalHandlers()
        defer {
            if !keep { cleanup.run(daemon: daemon) }
        }
        detail("data directory \(cluster.directory), socket \(cluster.socketDirectory), port \(cluster.port)")

        step("Creating database \(database) with a secure schema and \(sampleRows) orders written through c77_secure_db_operation()")
        try cluster.createDatabase(database)
        _ = try cluster.psql(DemoSQL.setup(monitorRole: monitorRole, rows: sampleRows), database: database)
        detail("c77_secure_db_health_check() = \(try cluster.psql("SELECT c77_secure_db_health_check()", database: database))")
        detail("a direct UPDATE is refused: " + refusal(cluster))

        step("Starting the alert receivers: a webhook endpoint (checks signatures), a journald stand-in, a LISTEN session")
        let receiver = try WebhookReceiver(secret: DemoConfig.webhookSecret)
        let journal = try DatagramListener(path: cluster.directory + "/journal.sock")
        let listener = try await PostgresConnection.connect(.init(conninfo: cluster.conninfo(database: database)), logger: Logger(label: "demo"))
        defer { listener.close() }
        try await listener.listen(DemoConfig.channel)
        detail("webhook \(receiver.url), journal socket \(journal.path), LISTEN \(DemoConfig.channel)")

        step("Starting c77-secure-dbd as role \(monitorRole) (granted c77_secure_db_monitor)")
        let configPath = try DemoConfig.write(
            directory: cluster.directory,
            conninfo: cluster.conninfo(database: database, user: monitorRole),
            webhookURL: receiver.url, journalSocket: journal.path
        )
        detail("configuration \(configPath), log \(cluster.directory)/daemon.log")
        let process = try binaries.startDaemon(configPath: configPath, logPath: cluster.directory + "/daemon.log")
        daemon = process
        cleanup.setDaemon(process)
        let socketPath = DemoConfig.socketPath(directory: cluster.directory)
        try await waitForDaemon(socketPath: socketPath, process: process)
        try await waitForJob("hash_verification", socketPath: socketPath)
        detail("first verification pass: " + (try lastSummary("hash_verification", socketPath: socketPath)))

        step("A rogue superuser changes order 42 behind the protection's back (session_replication_role = replica)")
        let before = try cluster.psql("SELECT amount FROM shop.orders WHERE id = 42", database: database)
        try cluster.psql("SET session_replication_role = replica; UPDATE shop.orders SET amount = 999999.99 WHERE id = 42;", database: database)
        detail("amount of order 42: \(before) → 999999.99; content_hash left as it was; nothing deleted")

        step("c77-secure-dbctl run hash_verification")
        print(try binaries.ctl(["run", "hash_verification", "--socket", socketPath]), terminator: "")
        try await waitForJob("hash_verification", socketPath: socketPath, runs: 2)
        detail("verification pass: " + (try lastSummary("hash_verification", socketPath: socketPath)))

        step("The alert, as each sink received it")
        let deadline = ContinuousClock.now + .seconds(15)
        while ContinuousClock.now < deadline, !receiver.deliveries.contains(where: { $0.bodyText.contains("DATA_TAMPERING") }) {
            try await Task.sleep(for: .milliseconds(100))
        }
        if let delivery = receiver.deliveries.first(where: { $0.bodyText.contains("DATA_TAMPERING") }) {
            detail("webhook:  POST with webhook-id \(delivery.id ?? "?"), signature \(delivery.signatureValid == true ? "verified" : "INVALID")")
            detail("          \(delivery.bodyText.prefix(220))…")
        } else {
            detail("webhook:  nothing received (see the daemon log)")
        }
        if let notification = await firstTamperingNotification(listener) {
            detail("LISTEN:   NOTIFY \(notification.channel) \(notification.payload.prefix(160))…")
        } else {
            detail("LISTEN:   nothing received (see the daemon log)")
        }
        if let entry = journal.receive(until: { String(decoding: $0, as: UTF8.self).contains("DATA_TAMPERING") }, timeout: .seconds(5)) {
            let fields = JournalEntryParser.parse(entry)
            detail("journald: PRIORITY=\(fields["PRIORITY"] ?? "?") C77_ALERT_TYPE=\(fields["C77_ALERT_TYPE"] ?? "?") C77_TABLE=\(fields["C77_TABLE"] ?? "?") C77_RECORD_ID=\(fields["C77_RECORD_ID"] ?? "?")")
            detail("          MESSAGE=\(fields["MESSAGE"] ?? "")")
        }

        step("c77-secure-dbctl alerts")
        print(try binaries.ctl(["alerts", "--socket", socketPath]), terminator: "")
        step("c77-secure-dbctl status")
        print(try binaries.ctl(["status", "--socket", socketPath]), terminator: "")

        if keep {
            step("Leaving everything running (--keep)")
            print("""
                  psql:     psql "\(cluster.conninfo(database: database))"
                  status:   \(binaries.ctlPath) status --socket \(socketPath)
                  daemon:   pid \(process.pid), log \(cluster.directory)/daemon.log
                  stop:     kill \(process.pid); then remove the cluster with: pg_ctl -D \(cluster.directory)/data stop; rm -rf \(cluster.directory)
                """)
        } else {
            step("Cleaning up: stopping the daemon and removing the cluster")
        }
    }

    /// The first DATA_TAMPERING notification, or nil after 10 s.
    private func firstTamperingNotification(_ listener: PostgresConnection) async -> PostgresNotification? {
        await withTaskGroup(of: PostgresNotification?.self) { group in
            group.addTask {
                for await notification in listener.notifications where notification.payload.contains("DATA_TAMPERING") {
                    return notification
                }
                return nil
            }
            group.addTask {
                try? await Task.sleep(for: .seconds(10))
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
    }

    /// What a direct write by the superuser gets.
    private func refusal(_ cluster: ThrowawayCluster) -> String {
        do {
            try cluster.psql("UPDATE shop.orders SET amount = 0 WHERE id = 1", database: database)
            return "NOT refused"
        } catch {
            let text = "\(error)"
            return text.firstMatch(of: /Direct modifications[^\n]*/).map { String($0.output) } ?? text
        }
    }

    private func jobs(socketPath: String) throws -> [JSONValue] {
        guard case .success(let jobs) = try ControlClient.send(ControlRequest(cmd: "jobs"), socketPath: socketPath) else { return [] }
        return jobs.arrayValue ?? []
    }

    private func waitForJob(_ name: String, socketPath: String, runs: Int = 1) async throws {
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            let job = try jobs(socketPath: socketPath).first { $0["name"]?.stringValue == name }
            if let count = job?["counters"]?["runs"]?.intValue, count >= runs { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw DemoError("\(name) did not finish within 60 s")
    }

    private func lastSummary(_ name: String, socketPath: String) throws -> String {
        let job = try jobs(socketPath: socketPath).first { $0["name"]?.stringValue == name }
        return job?["last_run"]?["summary"]?.stringValue ?? job?["last_run"]?["error"]?.stringValue ?? "?"
    }

    private func waitForDaemon(socketPath: String, process: ChildProcess) async throws {
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            if let status = process.exitStatus() { throw DemoError("the daemon exited with status \(status); see its log") }
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
