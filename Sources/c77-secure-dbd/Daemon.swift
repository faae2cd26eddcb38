import ArgumentParser
import FoundationEssentials
import Glibc
import Monitor

/// `c77-secure-dbd`: the c77_secure_db monitoring daemon.
@main
struct Daemon: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "c77-secure-dbd",
        abstract: "Monitor c77_secure_db databases: health, tokens, content hashes and the audit trail.",
        discussion: """
            Without a subcommand the daemon runs in the foreground, as systemd expects \
            (Type=notify). Exit status 78 (EX_CONFIG) means the configuration is invalid; \
            75 (EX_TEMPFAIL) that another daemon uses the same state_directory (try again once \
            it has stopped).
            """,
        version: "c77-secure-dbd \(MonitorVersion.current)",
        subcommands: [RunCommand.self, CheckConfigCommand.self, DemoCommand.self],
        defaultSubcommand: RunCommand.self
    )
}

/// sysexits(3) EX_CONFIG: the configuration is invalid.
let exConfig: Int32 = 78

/// sysexits(3) EX_TEMPFAIL: another daemon holds the state directory; a later start may succeed
/// (systemd's Restart=on-failure retries, unlike after 78).
let exTempFail: Int32 = 75

/// Prints a line to standard error.
func printError(_ message: String) {
    let text = Array((message + "\n").utf8)
    _ = text.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
}
