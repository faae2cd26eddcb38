import ControlSocket
import Foundation
import Glibc
import Testing

/// The daemon as systemd and operators see it: a real process, a real cluster, real signals,
/// the real control socket and a real NOTIFY_SOCKET.
@Suite(.serialized) struct DaemonLifecycleTests {
    @Test func startsReportsStatusRunsJobsReloadsAndStopsCleanly() throws {
        let harness = try DaemonHarness()
        try harness.writeConfig(harness.config("""
            [job.health_check]
            interval = 1h

            [job.token_cleanup]
            interval = 1h
            """))
        try harness.start(environment: ["WATCHDOG_USEC": "1000000"])

        // STATUS= and watchdog pings at half of WATCHDOG_USEC.
        #expect(harness.waitForNotify({ $0.contains("WATCHDOG=1") }, timeout: .seconds(3)) != nil)

        // status over the socket.
        guard case .success(let status) = try harness.send(ControlRequest(cmd: "status")) else {
            Issue.record("status failed; log:\n\(harness.log())")
            return
        }
        #expect(status["version"]?.stringValue == "2.0.0")
        #expect(status["database"]?["reachable"] == .bool(true))
        let jobNames = status["jobs"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? []
        #expect(jobNames.contains("health_check"))
        #expect(jobNames.contains("token_cleanup"))

        // Interval jobs run at start; `run` triggers another run.
        #expect(try eventually { try self.lastOutcome(harness, "health_check") == "success" }, "log:\n\(harness.log())")
        guard case .success(let started) = try harness.send(ControlRequest(cmd: "run", args: ["job": "token_cleanup"])) else {
            Issue.record("run failed")
            return
        }
        #expect(started["status"] == "started")
        #expect(try eventually { try self.runs(harness, "token_cleanup") >= 2 })

        // Unknown job and unknown command: errors, not crashes.
        if case .success = try harness.send(ControlRequest(cmd: "run", args: ["job": "nope"])) { Issue.record("unknown job accepted") }
        if case .success = try harness.send(ControlRequest(cmd: "frobnicate")) { Issue.record("unknown command accepted") }

        // A broken file on SIGHUP is refused; the running configuration stays.
        try harness.writeConfig(harness.config() + "\n[job.health_check]\ninterval = banana\n")
        harness.signal(SIGHUP)
        #expect(harness.waitForNotify({ $0.contains("RELOADING=1") }) != nil)
        #expect(harness.waitForNotify({ $0.contains("READY=1") }) != nil)
        #expect(try eventually {
            guard case .success(let status) = try harness.send(ControlRequest(cmd: "status")) else { return false }
            return status["config"]?["last_reload"]?["ok"] == .bool(false)
        })
        #expect(harness.process?.isRunning == true)

        // A good file through `reload` is applied.
        try harness.writeConfig(harness.config("[job.health_check]\ninterval = 30m\n"))
        guard case .success(let reloaded) = try harness.send(ControlRequest(cmd: "reload")) else {
            Issue.record("reload failed: \(harness.log())")
            return
        }
        #expect(reloaded["ok"] == .bool(true))
        #expect(try jobField(harness, "health_check", "schedule")?.contains("30m") == true)

        // The CLI: human table and --json.
        let human = try DaemonHarness.run(DaemonHarness.ctlPath, ["status", "--socket", harness.socketPath])
        #expect(human.status == 0)
        #expect(human.output.contains("health_check"))
        let json = try DaemonHarness.run(DaemonHarness.ctlPath, ["jobs", "--json", "--socket", harness.socketPath])
        #expect(json.status == 0)
        #expect((try? JSONDecoder().decode(JSONValue.self, from: Data(json.output.utf8))) != nil)

        // SIGTERM: STOPPING=1, exit 0, socket removed.
        harness.signal(SIGTERM)
        #expect(harness.waitForNotify({ $0.contains("STOPPING=1") }) != nil)
        harness.process?.waitUntilExit()
        #expect(harness.process?.terminationStatus == 0, "log:\n\(harness.log())")
        #expect(!FileManager.default.fileExists(atPath: harness.socketPath))
    }

    @Test func garbageOnTheSocketGetsAnErrorAndTheDaemonKeepsServing() throws {
        let harness = try DaemonHarness()
        try harness.writeConfig(harness.config())
        try harness.start()
        defer { harness.stop() }

        for garbage in ["not json\n", "{\"cmd\": 42}\n", "[1,2,3]\n", "\u{0}\u{1}\u{2}\n", String(repeating: "{", count: 10_000) + "\n"] {
            let reply = try rawExchange(harness.socketPath, garbage)
            #expect(reply.contains("\"ok\":false") || reply.contains("\"ok\" : false"), "reply to \(garbage.prefix(20)): \(reply)")
        }
        guard case .success = try harness.send(ControlRequest(cmd: "version")) else {
            Issue.record("daemon stopped serving after garbage")
            return
        }
        #expect(harness.process?.isRunning == true)
    }

    @Test func aSecondDaemonOnTheSameStateDirectoryExitsSeventyFive() throws {
        let harness = try DaemonHarness()
        try harness.writeConfig(harness.config())
        let first = try harness.start()
        // Another socket, and then the same one: either way it stops before touching anything.
        let otherSocket = harness.directory + "/other.sock", otherConfig = harness.directory + "/other.ini"
        try harness.config().replacingOccurrences(of: harness.socketPath, with: otherSocket)
            .write(toFile: otherConfig, atomically: true, encoding: .utf8)
        for config in [otherConfig, harness.configPath] {
            let second = try runWithin(.seconds(20), DaemonHarness.daemonPath, ["--config", config])
            #expect(second.status == 75, "\(second.output)")
            #expect(second.output.contains("state_directory is in use by another c77-secure-dbd (pid \(first.processIdentifier))"), "\(second.output)")
        }
        #expect(!FileManager.default.fileExists(atPath: otherSocket))
        guard case .success = try harness.send(ControlRequest(cmd: "version")) else {
            Issue.record("the first daemon no longer answers; log:\n\(harness.log())")
            return
        }
        // Once it has stopped, another one starts.
        #expect(harness.stop() == 0)
        try harness.start()
    }

    /// Runs a binary and returns its exit status and output; kills it after `timeout`.
    private func runWithin(_ timeout: Duration, _ path: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("c77-run-\(UUID().uuidString)")
        FileManager.default.createFile(atPath: output.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: output) }
        let handle = try FileHandle(forWritingTo: output)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        if !eventually(timeout: timeout, { !process.isRunning }) {
            process.terminate()
            process.waitUntilExit()
            throw HarnessError("\(path) \(arguments) still runs after \(timeout)")
        }
        return (process.terminationStatus, (try? String(contentsOf: output, encoding: .utf8)) ?? "")
    }

    @Test func ctlExplainsADaemonThatIsNotRunning() throws {
        let result = try DaemonHarness.run(DaemonHarness.ctlPath, ["status", "--socket", "/tmp/c77-no-such-daemon.sock"])
        #expect(result.status == 69)
        #expect(result.output.contains("not running"))
    }

    @Test func checkConfigExitsZeroOrSeventyEightWithFileAndLine() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("c77cfg-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let good = directory + "/good.ini", bad = directory + "/bad.ini"
        try "[database]\nconninfo = host=/tmp\n".write(toFile: good, atomically: true, encoding: .utf8)
        try "[database]\nconninfo = host=/tmp\n\n[job.health_check]\ninterval = 15 minutes\n".write(toFile: bad, atomically: true, encoding: .utf8)

        #expect(try DaemonHarness.run(DaemonHarness.daemonPath, ["check-config", good]).status == 0)
        let refused = try DaemonHarness.run(DaemonHarness.daemonPath, ["check-config", bad])
        #expect(refused.status == 78)
        #expect(refused.output.contains("bad.ini:5"))
        let missing = try DaemonHarness.run(DaemonHarness.daemonPath, ["--config", directory + "/absent.ini"])
        #expect(missing.status == 78)
    }

    private func jobs(_ harness: DaemonHarness) throws -> [JSONValue] {
        guard case .success(let jobs) = try harness.send(ControlRequest(cmd: "jobs")) else { return [] }
        return jobs.arrayValue ?? []
    }

    private func jobField(_ harness: DaemonHarness, _ name: String, _ field: String) throws -> String? {
        try jobs(harness).first { $0["name"]?.stringValue == name }?[field]?.stringValue
    }

    private func lastOutcome(_ harness: DaemonHarness, _ name: String) throws -> String? {
        try jobs(harness).first { $0["name"]?.stringValue == name }?["last_run"]?["outcome"]?.stringValue
    }

    private func runs(_ harness: DaemonHarness, _ name: String) throws -> Int {
        try jobs(harness).first { $0["name"]?.stringValue == name }?["counters"]?["runs"]?.intValue ?? 0
    }
}

/// Writes raw bytes to the control socket and returns the first line of the answer.
func rawExchange(_ path: String, _ text: String) throws -> String {
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
        for (index, byte) in path.utf8.enumerated() { raw[index] = byte }
    }
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
    guard connected == 0 else { throw HarnessError("connect: \(String(cString: strerror(errno)))") }
    var timeout = timeval(tv_sec: 5, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    let bytes = Array(text.utf8)
    _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    var reply = [UInt8]()
    var byte: UInt8 = 0
    while read(fd, &byte, 1) == 1, byte != 10 { reply.append(byte) }
    return String(decoding: reply, as: UTF8.self)
}
