import MonitorConfig
import Postgres

extension DaemonConfiguration {
    /// How the daemon connects, from `[database]`.
    public var postgresConfiguration: PostgresConfiguration {
        PostgresConfiguration(
            conninfo: database.conninfo,
            passwordFile: database.passwordFile,
            connectTimeout: database.connectTimeout,
            statementTimeout: database.statementTimeout
        )
    }
}
