import ArgumentParser
import ControlSocket
import Foundation

/// `c77-secure-dbctl`: asks a running `c77-secure-dbd` over its control socket.
@main
struct Ctl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "c77-secure-dbctl",
        abstract: "Query and control a running c77-secure-dbd.",
        discussion: """
            Exit status: 0 success, 1 the daemon refused or failed the command, \
            69 the daemon is not running, 75 no answer in time, 77 permission denied.
            """,
        version: "c77-secure-dbctl \(ctlVersion)",
        subcommands: [Status.self, Jobs.self, Alerts.self, Run.self, Reload.self, Version.self, Digest.self]
    )
}

let ctlVersion = "2.0.0"

/// Options every subcommand takes.
struct ConnectionOptions: ParsableArguments {
    @Option(name: .long, help: "The daemon's control socket.")
    var socket = "/run/c77-secure-db/c77-secure-dbd.sock"

    @Flag(name: .long, help: "Print the daemon's JSON answer instead of a table.")
    var json = false

    @Option(name: .long, help: "Seconds to wait for an answer.")
    var timeout = 10

    /// Sends the request and returns the answer's data, or exits with the documented status.
    func send(_ request: ControlRequest) throws -> JSONValue {
        let response: ControlResponse
        do {
            response = try ControlClient.send(request, socketPath: socket, timeout: .seconds(timeout))
        } catch {
            FileHandle.standardError.write(Data("c77-secure-dbctl: \(error)\n".utf8))
            throw ExitCode(error.exitStatus)
        }
        switch response {
        case .success(let data):
            return data
        case .failure(let message):
            FileHandle.standardError.write(Data("c77-secure-dbctl: \(message)\n".utf8))
            throw ExitCode(message.hasPrefix("permission denied") ? 77 : 1)
        }
    }

    /// Prints `data` as JSON when `--json` was given, otherwise with `human`.
    func output(_ data: JSONValue, human: (JSONValue) -> String) {
        if json {
            print(data.prettyJSON)
        } else {
            print(human(data), terminator: "")
        }
    }
}

extension ControlClientError {
    /// The sysexits(3) status the CLI exits with.
    var exitStatus: Int32 {
        switch self {
        case .daemonNotRunning: 69
        case .permissionDenied: 77
        case .timedOut: 75
        default: 1
        }
    }
}

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show the daemon's state, its jobs, firing alerts and sinks.")
    @OptionGroup var options: ConnectionOptions

    func run() throws {
        let data = try options.send(ControlRequest(cmd: "status"))
        options.output(data, human: HumanOutput.status)
    }
}

struct Jobs: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List jobs with their recent runs.")
    @OptionGroup var options: ConnectionOptions

    func run() throws {
        let data = try options.send(ControlRequest(cmd: "jobs"))
        options.output(data, human: HumanOutput.jobs)
    }
}

struct Alerts: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List recent alerts, newest last.")
    @OptionGroup var options: ConnectionOptions
    @Option(help: "How many alerts to show.") var limit = 50

    func run() throws {
        let data = try options.send(ControlRequest(cmd: "alerts", args: ["limit": .number(Double(limit))]))
        options.output(data, human: HumanOutput.alerts)
    }
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run a job now (needs root, the daemon's user or the socket's group).")
    @OptionGroup var options: ConnectionOptions
    @Argument(help: "The job, e.g. health_check.") var job: String

    func run() throws {
        let data = try options.send(ControlRequest(cmd: "run", args: ["job": .string(job)]))
        options.output(data) { data in
            data["status"]?.stringValue == "started"
                ? "Started \(job).\n" : "\(job) is already running.\n"
        }
    }
}

struct Reload: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Reload the configuration file (like SIGHUP).")
    @OptionGroup var options: ConnectionOptions

    func run() throws {
        let data = try options.send(ControlRequest(cmd: "reload"))
        options.output(data) { data in
            let restart = data["needs_restart"]?.arrayValue?.compactMap(\.stringValue) ?? []
            return restart.isEmpty
                ? "Configuration reloaded.\n"
                : "Configuration reloaded; restart to apply: \(restart.joined(separator: ", ")).\n"
        }
    }
}

struct Version: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show the daemon's version.")
    @OptionGroup var options: ConnectionOptions

    func run() throws {
        let data = try options.send(ControlRequest(cmd: "version"))
        options.output(data) { "c77-secure-dbd \($0["version"]?.stringValue ?? "?")\n" }
    }
}
