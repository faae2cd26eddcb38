import ArgumentParser
import MonitorConfig

/// Validates a configuration file without starting anything.
struct CheckConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Validate a configuration file: exit 0 when valid, 78 (EX_CONFIG) with file:line: message when not."
    )

    @Argument(help: "The configuration file.")
    var path: String = DaemonConfiguration.defaultPath

    func run() throws {
        do {
            _ = try DaemonConfiguration.load(path: path)
        } catch {
            printError("\(error)")
            throw ExitCode(exConfig)
        }
        print("\(path): configuration is valid")
    }
}
