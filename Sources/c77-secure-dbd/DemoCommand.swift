import ArgumentParser

/// A newcomer's first command: a throwaway cluster, sample data, the daemon, a tampered row.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run the daemon against a throwaway PostgreSQL cluster with sample data, then clean up."
    )

    @Flag(help: "Leave the cluster and the daemon running and print how to connect.")
    var keep = false

    func run() async throws {
        try await Demo(keep: keep).run()
    }
}
