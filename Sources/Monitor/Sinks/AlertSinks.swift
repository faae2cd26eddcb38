import EssentialsSupport
import FoundationEssentials
import Logging
import MonitorConfig

/// Builds the sinks a configuration enables.
enum AlertSinks {
    static func make(for configuration: DaemonConfiguration, logger: Logger) throws -> [any AlertSink] {
        var sinks: [any AlertSink] = []
        let notify = configuration.notifySink
        if notify.enabled {
            sinks.append(NotifySink(channel: notify.channel, minSeverity: notify.minSeverity,
                                    configuration: configuration.postgresConfiguration, logger: logger))
        }
        let journald = configuration.journaldSink
        if journald.enabled {
            sinks.append(JournaldSink(socketPath: journald.socket, minSeverity: journald.minSeverity))
        }
        if let webhook = configuration.webhookSink {
            let secret = try webhook.secretFile.map { path in
                do {
                    return try String(contentsOfFile: path, encoding: .utf8)
                } catch {
                    throw SinkSetupError(description: "[sink.webhook] secret_file \(path): \(error.systemDescription)")
                }
            }
            sinks.append(try WebhookSink(
                url: webhook.url, format: webhook.format, secret: secret, timeout: webhook.timeout,
                maxAttempts: webhook.maxAttempts,
                spoolDirectory: webhook.spoolDirectory ?? configuration.daemon.stateDirectory + "/spool",
                minSeverity: webhook.minSeverity, logger: logger
            ))
        }
        return sinks
    }
}

/// A sink that cannot be set up (unreadable secret, spool directory not writable).
struct SinkSetupError: Error, CustomStringConvertible {
    var description: String
}
