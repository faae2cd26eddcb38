import ArgumentParser
import FoundationEssentials
import Logging
import Monitor
import MonitorConfig
import ServiceLifecycle
import Systemd

/// Runs the daemon in the foreground until SIGTERM or SIGINT.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the daemon in the foreground (the default)."
    )

    @Option(name: .long, help: "The configuration file.")
    var config = DaemonConfiguration.defaultPath

    func run() async throws {
        let configuration: DaemonConfiguration
        do {
            configuration = try DaemonConfiguration.load(path: config)
        } catch {
            printError("\(error)")
            throw ExitCode(exConfig)
        }

        LoggingSystem.bootstrap(LoggingBootstrap.handlerFactory(
            identifier: "c77-secure-dbd",
            level: configuration.daemon.logLevel.loggerLevel,
            environment: ProcessInfo.processInfo.environment
        ))
        let logger = Logger(label: "c77-secure-dbd")
        logger.info("Starting c77-secure-dbd \(MonitorVersion.current)", metadata: ["config": "\(config)"])

        // Before anything touches the state directory or the control socket.
        let lock: StateDirectoryLock
        do {
            lock = try StateDirectoryLock(stateDirectory: configuration.daemon.stateDirectory)
        } catch let error as StateDirectoryLock.InUse {
            logger.critical("\(error)")
            throw ExitCode(exTempFail)
        }
        defer { withExtendedLifetime(lock) {} }

        let daemon = try MonitorDaemon(configuration: configuration, configPath: config, logger: logger, notifier: SystemdNotifier())
        var groupConfiguration = ServiceGroupConfiguration(
            services: [.init(service: daemon)],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        )
        groupConfiguration.maximumGracefulShutdownDuration = configuration.daemon.shutdownTimeout
        do {
            try await ServiceGroup(configuration: groupConfiguration).run()
        } catch {
            logger.critical("Daemon failed: \(error)")
            throw ExitCode.failure
        }
    }
}

extension LogLevel {
    /// The swift-log level of the same name.
    var loggerLevel: Logger.Level { Logger.Level(rawValue: rawValue) ?? .info }
}
