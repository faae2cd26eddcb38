import EssentialsSupport
import FoundationEssentials

/// The daemon's configuration, read from an INI file and validated as a whole: every
/// section and key of `etc/c77-secure-db/c77-secure-dbd.ini`, with its defaults.
public struct DaemonConfiguration: Sendable, Equatable {
    /// Where the daemon looks without `--config`.
    public static let defaultPath = "/etc/c77-secure-db/c77-secure-dbd.ini"

    /// `[daemon]`
    public struct Daemon: Sendable, Equatable {
        public var socket: String
        public var socketMode: UInt32
        /// Owner group of the socket; its members may also `run` and `reload`.
        public var socketGroup: String?
        public var stateDirectory: String
        public var logLevel: LogLevel
        /// How long running jobs may take to finish on SIGTERM before they are cancelled.
        public var shutdownTimeout: Duration
    }

    /// `[database]`
    public struct Database: Sendable, Equatable {
        /// A libpq keyword/value string or `postgresql://` URI; empty means PG* variables only.
        public var conninfo: String
        /// A file holding the password alone (e.g. a systemd credential).
        public var passwordFile: String?
        public var connectTimeout: Duration
        public var statementTimeout: Duration
        public var reconnectMaxDelay: Duration
    }

    /// `[job.health_check]`
    public struct HealthCheck: Sendable, Equatable {
        public var job: JobSettings
        /// Percent of failed operations over the last hour above which HIGH_ERROR_RATE fires.
        public var errorRateThreshold: Double
        /// Active tokens above which TOKEN_BUILDUP fires.
        public var activeTokensThreshold: Int
    }

    /// `[job.token_cleanup]`
    public struct TokenCleanup: Sendable, Equatable {
        public var job: JobSettings
    }

    /// `[job.hash_verification]`
    public struct HashVerification: Sendable, Equatable {
        public var job: JobSettings
        /// nil: every table of every registered secure schema.
        public var tables: [SecureTable]?
        public var batchSize: Int
        /// 0: unthrottled.
        public var maxRowsPerSecond: Int
        public var concurrency: Int
        public var fixMismatches: Bool
        public var alertFloodThreshold: Int
        public var statementTimeout: Duration?
    }

    /// `[job.anomaly_detection]`
    public struct AnomalyDetection: Sendable, Equatable {
        public var job: JobSettings
        public var errorThreshold: Int
        public var errorWindow: Duration
        public var volumeThreshold: Int
        public var volumeWindow: Duration
        public var offHoursThreshold: Int
        public var offHoursWindow: Duration
        public var businessHours: BusinessHours
        public var timezone: String
        public var slowOperationMs: Int
        public var slowWindow: Duration
        public var criticalTables: [SecureTable]
        public var coverageWindow: Duration
    }

    /// `[job.audit_chain]`
    public struct AuditChain: Sendable, Equatable {
        public var job: JobSettings
        public var batchSize: Int
        public var fullVerificationInterval: Duration
    }

    /// `[job.table_digest]`
    public struct TableDigest: Sendable, Equatable {
        public var job: JobSettings
        /// nil: every table of every registered secure schema.
        public var tables: [SecureTable]?
        /// Rows per primary-key bucket when a table's buckets are first laid out; a bucket that
        /// grows past twice this is split.
        public var bucketRows: Int
        public var alertFloodThreshold: Int
    }

    /// `[job.retention]`
    public struct Retention: Sendable, Equatable {
        public var job: JobSettings
        public var auditMaxAge: Duration
        public var batchSize: Int
    }

    /// `[alerts]`
    public struct Alerts: Sendable, Equatable {
        public var minSeverity: Severity
        public var dedupWindow: Duration
        public var repeatInterval: Duration
        public var historySize: Int
    }

    /// `[sink.notify]`
    public struct NotifySink: Sendable, Equatable {
        public var enabled: Bool
        public var channel: String
        public var minSeverity: Severity
    }

    /// `[sink.journald]`
    public struct JournaldSink: Sendable, Equatable {
        public var enabled: Bool
        public var socket: String
        public var minSeverity: Severity
    }

    /// `[sink.webhook]`: present only when the section is.
    public struct WebhookSink: Sendable, Equatable {
        public var url: URL
        public var format: WebhookFormat
        public var secretFile: String?
        public var timeout: Duration
        public var maxAttempts: Int
        /// nil: `<state_directory>/spool`.
        public var spoolDirectory: String?
        public var minSeverity: Severity
    }

    public var daemon: Daemon
    public var database: Database
    public var healthCheck: HealthCheck
    public var tokenCleanup: TokenCleanup
    public var hashVerification: HashVerification
    public var anomalyDetection: AnomalyDetection
    public var auditChain: AuditChain
    public var tableDigest: TableDigest
    public var retention: Retention
    public var alerts: Alerts
    public var notifySink: NotifySink
    public var journaldSink: JournaldSink
    public var webhookSink: WebhookSink?

    /// Reads and validates the file at `path`.
    public static func load(path: String) throws(ConfigError) -> DaemonConfiguration {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigError(.unreadableFile, file: path, line: 0, message: "cannot read configuration: \(error.systemDescription)")
        }
        return try parse(text: text, file: path)
    }

    /// Validates configuration text; `file` names it in errors.
    public static func parse(text: String, file: String) throws(ConfigError) -> DaemonConfiguration {
        let document = try INIDocument(text: text, file: file)
        let known = ["daemon", "database", "job.health_check", "job.token_cleanup", "job.hash_verification",
                     "job.anomaly_detection", "job.audit_chain", "job.table_digest", "job.retention", "alerts", "sink.notify", "sink.journald", "sink.webhook"]
        if let unknown = document.sections.first(where: { !known.contains($0.name) }) {
            throw ConfigError(.unknownSection, file: file, line: unknown.line, section: unknown.name,
                              message: "unknown section [\(unknown.name)] (known: \(known.map { "[\($0)]" }.joined(separator: " ")))")
        }
        func reader(_ name: String) -> SectionReader {
            SectionReader(document.sections.first { $0.name == name }, name: name, file: file)
        }

        var section = reader("daemon")
        let stateDirectory = try section.string("state_directory", default: "/var/lib/c77-secure-db")
        let daemon = Daemon(
            socket: try section.string("socket", default: "/run/c77-secure-db/c77-secure-dbd.sock"),
            socketMode: try section.value("socket_mode", default: 0o660, ValueParsers.fileMode),
            socketGroup: try section.optional("socket_group") { $0 },
            stateDirectory: stateDirectory,
            logLevel: try section.value("log_level", default: .info) { (text) throws(ValueError) -> LogLevel in
                guard let level = LogLevel(rawValue: text.lowercased()) else {
                    throw ValueError("'\(text)' is not a log level (\(LogLevel.allCases.map(\.rawValue).joined(separator: ", ")))")
                }
                return level
            },
            shutdownTimeout: try section.positiveDuration("shutdown_timeout", default: .seconds(10))
        )
        try section.finish()

        guard document.sections.contains(where: { $0.name == "database" }) else {
            throw ConfigError(.missingKey, file: file, line: 0, section: "database", key: "conninfo",
                              message: "[database] conninfo is required (an empty value means PG* environment variables)")
        }
        section = reader("database")
        guard section.has("conninfo") else {
            throw ConfigError(.missingKey, file: file, line: section.line, section: "database", key: "conninfo",
                              message: "[database] conninfo is required (an empty value means PG* environment variables)")
        }
        let database = Database(
            conninfo: try section.string("conninfo", default: ""),
            passwordFile: try section.optional("password_file") { $0 },
            connectTimeout: try section.positiveDuration("connect_timeout", default: .seconds(10)),
            statementTimeout: try section.positiveDuration("statement_timeout", default: .seconds(60)),
            reconnectMaxDelay: try section.positiveDuration("reconnect_max_delay", default: .seconds(30))
        )
        try section.finish()

        section = reader("job.health_check")
        let healthCheck = HealthCheck(
            job: try section.job(defaultSchedule: .interval(.seconds(15 * 60)), defaultTimeout: .seconds(30)),
            errorRateThreshold: try section.value("error_rate_threshold", default: 5, ValueParsers.percentage),
            activeTokensThreshold: try section.integer("active_tokens_threshold", default: 100)
        )
        try section.finish()

        section = reader("job.token_cleanup")
        let tokenCleanup = TokenCleanup(job: try section.job(defaultSchedule: .interval(.seconds(3600)), defaultTimeout: .seconds(60)))
        try section.finish()

        section = reader("job.hash_verification")
        let hashVerification = HashVerification(
            job: try section.job(defaultSchedule: .cron(try! CronSchedule(parsing: "0 1 * * *")), defaultTimeout: .seconds(6 * 3600)),
            tables: try section.value("tables", default: nil, ValueParsers.tablesOrAll),
            batchSize: try section.integer("batch_size", default: 10_000, in: 1...1_000_000),
            maxRowsPerSecond: try section.integer("max_rows_per_second", default: 0),
            concurrency: try section.integer("concurrency", default: 1, in: 1...16),
            fixMismatches: try section.bool("fix_mismatches", default: false),
            alertFloodThreshold: try section.integer("alert_flood_threshold", default: 10, in: 1...10_000),
            statementTimeout: try section.optional("statement_timeout", ValueParsers.duration)
        )
        try section.finish()

        section = reader("job.anomaly_detection")
        let anomalyDetection = AnomalyDetection(
            job: try section.job(defaultSchedule: .interval(.seconds(15 * 60)), defaultTimeout: .seconds(300)),
            errorThreshold: try section.integer("error_threshold", default: 10),
            errorWindow: try section.positiveDuration("error_window", default: .seconds(3600)),
            volumeThreshold: try section.integer("volume_threshold", default: 100),
            volumeWindow: try section.positiveDuration("volume_window", default: .seconds(3600)),
            offHoursThreshold: try section.integer("off_hours_threshold", default: 5),
            offHoursWindow: try section.positiveDuration("off_hours_window", default: .seconds(86_400)),
            businessHours: try section.value("business_hours", default: BusinessHours(start: 480, end: 1139), ValueParsers.businessHours),
            timezone: try section.value("timezone", default: "UTC", ValueParsers.timeZone),
            slowOperationMs: try section.integer("slow_operation_ms", default: 1000),
            slowWindow: try section.positiveDuration("slow_window", default: .seconds(3600)),
            criticalTables: try section.value("critical_tables", default: []) { (text) throws(ValueError) -> [SecureTable] in
                var tables: [SecureTable] = []
                for item in ValueParsers.list(text) { tables.append(try ValueParsers.table(item)) }
                return tables
            },
            coverageWindow: try section.positiveDuration("coverage_window", default: .seconds(86_400))
        )
        try section.finish()

        section = reader("job.audit_chain")
        let auditChain = AuditChain(
            job: try section.job(defaultSchedule: .interval(.seconds(60)), defaultTimeout: .seconds(600)),
            batchSize: try section.integer("batch_size", default: 10_000, in: 1...1_000_000),
            fullVerificationInterval: try section.positiveDuration("full_verification_interval", default: .seconds(86_400))
        )
        try section.finish()

        section = reader("job.table_digest")
        let tableDigest = TableDigest(
            job: try section.job(defaultSchedule: .interval(.seconds(3600)), defaultTimeout: .seconds(6 * 3600)),
            tables: try section.value("tables", default: nil, ValueParsers.tablesOrAll),
            bucketRows: try section.integer("bucket_rows", default: 10_000, in: 1...1_000_000),
            alertFloodThreshold: try section.integer("alert_flood_threshold", default: 10, in: 1...10_000)
        )
        try section.finish()

        section = reader("job.retention")
        let retention = Retention(
            job: try section.job(defaultSchedule: .cron(try! CronSchedule(parsing: "30 2 * * *")), defaultTimeout: .seconds(3600),
                                 enabledByDefault: false),
            auditMaxAge: try section.positiveDuration("audit_max_age", default: .seconds(90 * 86_400)),
            batchSize: try section.integer("batch_size", default: 10_000, in: 1...1_000_000)
        )
        try section.finish()

        section = reader("alerts")
        let alerts = Alerts(
            minSeverity: try section.severity("min_severity", default: .info),
            dedupWindow: try section.duration("dedup_window", default: .seconds(3600)),
            repeatInterval: try section.positiveDuration("repeat_interval", default: .seconds(6 * 3600)),
            historySize: try section.integer("history_size", default: 200, in: 1...100_000)
        )
        try section.finish()

        section = reader("sink.notify")
        let notifySink = NotifySink(
            enabled: try section.bool("enabled", default: true),
            channel: try section.value("channel", default: "c77_secure_db_alerts", ValueParsers.channel),
            minSeverity: try section.severity("min_severity", default: .info)
        )
        try section.finish()

        section = reader("sink.journald")
        let journaldSink = JournaldSink(
            enabled: try section.bool("enabled", default: true),
            socket: try section.string("socket", default: "/run/systemd/journal/socket"),
            minSeverity: try section.severity("min_severity", default: .info)
        )
        try section.finish()

        var webhookSink: WebhookSink?
        if document.sections.contains(where: { $0.name == "sink.webhook" }) {
            section = reader("sink.webhook")
            webhookSink = WebhookSink(
                url: try section.required("url", ValueParsers.httpURL),
                format: try section.value("format", default: .native) { (text) throws(ValueError) -> WebhookFormat in
                    guard let format = WebhookFormat(rawValue: text.lowercased()) else {
                        throw ValueError("'\(text)' is not a format (native or alertmanager)")
                    }
                    return format
                },
                secretFile: try section.optional("secret_file") { $0 },
                timeout: try section.positiveDuration("timeout", default: .seconds(10)),
                maxAttempts: try section.integer("max_attempts", default: 10, in: 1...1000),
                spoolDirectory: try section.optional("spool_directory") { $0 },
                minSeverity: try section.severity("min_severity", default: .warning)
            )
            try section.finish()
        }

        return DaemonConfiguration(
            daemon: daemon, database: database, healthCheck: healthCheck, tokenCleanup: tokenCleanup,
            hashVerification: hashVerification, anomalyDetection: anomalyDetection, auditChain: auditChain,
            tableDigest: tableDigest, retention: retention,
            alerts: alerts, notifySink: notifySink, journaldSink: journaldSink, webhookSink: webhookSink
        )
    }
}

/// The body the webhook sink posts.
public enum WebhookFormat: String, Sendable, Equatable {
    /// The alert as the daemon models it.
    case native
    /// Prometheus Alertmanager's webhook body (version 4).
    case alertmanager
}
