import ControlSocket
import EssentialsSupport
import FoundationEssentials
import MonitorConfig
import Postgres

/// Looks for suspicious patterns in `c77_secure_db_operation_audit`, the heuristics the
/// documents describe, each with its own window and threshold:
///
/// - `HIGH_ERROR_RATE_USER`: a user with more than `error_threshold` failed operations in `error_window`;
/// - `UNUSUAL_ACTIVITY_VOLUME`: a user with more than `volume_threshold` operations in `volume_window`;
/// - `OFF_HOURS_ACTIVITY`: a user with more than `off_hours_threshold` operations outside
///   `business_hours` (in `timezone`) within `off_hours_window`;
/// - `SLOW_OPERATIONS`: a table whose p95 execution time over `slow_window` exceeds `slow_operation_ms`;
/// - `AUDIT_COVERAGE_GAP`: a table of `critical_tables` with no audited operation in `coverage_window`.
///
/// Every finding is a condition: alerted with its figures, repeated only after the repeat
/// interval while it holds, and resolved when a later run no longer finds it. The per-user
/// heuristics share one scan of the audit's time index.
public struct AnomalyDetectionJob: MonitorJob {
    public let name = "anomaly_detection"

    /// A threshold and the window it applies to.
    public struct Rule: Sendable, Equatable {
        public var threshold: Int
        public var window: Duration
        public init(threshold: Int, window: Duration) {
            self.threshold = threshold
            self.window = window
        }
    }

    public var errors: Rule
    public var volume: Rule
    public var offHours: Rule
    public var businessHours: BusinessHours
    public var timeZone: String
    public var slowOperationMs: Int
    public var slowWindow: Duration
    public var criticalTables: [SecureTable]
    public var coverageWindow: Duration

    public init(errors: Rule, volume: Rule, offHours: Rule, businessHours: BusinessHours, timeZone: String,
                slowOperationMs: Int, slowWindow: Duration, criticalTables: [SecureTable], coverageWindow: Duration) {
        self.errors = errors
        self.volume = volume
        self.offHours = offHours
        self.businessHours = businessHours
        self.timeZone = timeZone
        self.slowOperationMs = slowOperationMs
        self.slowWindow = slowWindow
        self.criticalTables = criticalTables
        self.coverageWindow = coverageWindow
    }

    /// One finding before it becomes an alert.
    struct Finding {
        var type: AlertType
        var severity: Severity
        var subject: String
        var summary: String
        var schema: String?
        var table: String?
        var details: [String: JSONValue]
    }

    public func run(in context: JobContext) async throws -> JobReport {
        let findings = try await context.database.withConnection { connection in
            try await self.userFindings(connection) + self.slowFindings(connection) + self.coverageFindings(connection)
        }
        let database = context.database.reachability.database
        var current = Set<String>()
        for finding in findings {
            let fingerprint = Alert.fingerprint(finding.type, finding.subject)
            current.insert(fingerprint)
            await context.alerts.raiseCondition(Alert(
                type: finding.type, severity: finding.severity, summary: finding.summary, job: name,
                database: database, schema: finding.schema, table: finding.table, details: finding.details,
                fingerprint: fingerprint
            ))
        }
        let mine: Set<AlertType> = [.highErrorRateUser, .unusualActivityVolume, .offHoursActivity, .slowOperations, .auditCoverageGap]
        for alert in await context.alerts.firing() where mine.contains(alert.type) && !current.contains(alert.fingerprint) {
            await context.alerts.resolve(fingerprint: alert.fingerprint)
        }
        var counts: [String: JSONValue] = [:]
        for type in mine { counts[type.rawValue] = .number(Double(findings.filter { $0.type == type }.count)) }
        return JobReport(summary: findings.isEmpty ? "no anomalies" : "\(findings.count) anomal\(findings.count == 1 ? "y" : "ies")",
                         figures: counts)
    }

    private func seconds(_ duration: Duration) -> PostgresValue {
        .text("\(Int(duration.timeInterval)) seconds")
    }

    /// The three per-user heuristics in one pass over the widest of their windows. The local
    /// minute of the day comes from date_part (float8) rather than extract (numeric since
    /// PostgreSQL 14): the same whole numbers, at a fraction of the cost per row.
    func userFindings(_ connection: PostgresConnection) async throws -> [Finding] {
        let widest = max(errors.window, volume.window, offHours.window)
        let rows = try await connection.query("""
            SELECT coalesce(user_name, '') AS user_name,
                   count(*) FILTER (WHERE NOT success AND created_at > now() - $2::interval) AS errors,
                   count(*) FILTER (WHERE created_at > now() - $3::interval) AS operations,
                   count(*) FILTER (WHERE created_at > now() - $4::interval
                                    AND NOT (CASE WHEN $6::int <= $7::int
                                             THEN minutes BETWEEN $6::int AND $7::int
                                             ELSE minutes >= $6::int OR minutes <= $7::int END)) AS off_hours
            FROM (SELECT user_name, success, created_at,
                         (date_part('hour', created_at AT TIME ZONE $5) * 60
                          + date_part('minute', created_at AT TIME ZONE $5))::int AS minutes
                  FROM c77_secure_db_operation_audit
                  WHERE created_at > now() - $1::interval) AS recent
            GROUP BY 1
            HAVING count(*) FILTER (WHERE NOT success AND created_at > now() - $2::interval) > $8::int
                OR count(*) FILTER (WHERE created_at > now() - $3::interval) > $9::int
                OR count(*) > $10::int
            ORDER BY 1
            """, [seconds(widest), seconds(errors.window), seconds(volume.window), seconds(offHours.window),
                  .text(timeZone), .text(String(businessHours.start)), .text(String(businessHours.end)),
                  .text(String(errors.threshold)), .text(String(volume.threshold)), .text(String(offHours.threshold))])
        var findings: [Finding] = []
        for row in rows {
            let user = try row.string("user_name")
            let errorCount = try row.int("errors"), operations = try row.int("operations"), offHourCount = try row.int("off_hours")
            if errorCount > errors.threshold {
                findings.append(Finding(
                    type: .highErrorRateUser, severity: .warning, subject: user,
                    summary: "User \(user) had \(errorCount) failed operations in \(errors.window.humanReadable) (threshold \(errors.threshold))",
                    details: ["user_name": .string(user), "error_count": .number(Double(errorCount)),
                              "threshold": .number(Double(errors.threshold)), "window": .string(errors.window.humanReadable)]))
            }
            if operations > volume.threshold {
                findings.append(Finding(
                    type: .unusualActivityVolume, severity: .warning, subject: user,
                    summary: "User \(user) performed \(operations) operations in \(volume.window.humanReadable) (threshold \(volume.threshold))",
                    details: ["user_name": .string(user), "operation_count": .number(Double(operations)),
                              "threshold": .number(Double(volume.threshold)), "window": .string(volume.window.humanReadable)]))
            }
            if offHourCount > offHours.threshold {
                findings.append(Finding(
                    type: .offHoursActivity, severity: .warning, subject: user,
                    summary: "User \(user) performed \(offHourCount) operations outside business hours in \(offHours.window.humanReadable) (threshold \(offHours.threshold))",
                    details: ["user_name": .string(user), "operation_count": .number(Double(offHourCount)),
                              "threshold": .number(Double(offHours.threshold)), "window": .string(offHours.window.humanReadable),
                              "timezone": .string(timeZone)]))
            }
        }
        return findings
    }

    /// Tables whose 95th percentile execution time exceeds `slow_operation_ms`.
    ///
    /// The exact percentile sorts every row of a table; `candidates` first keeps, in one hashed
    /// pass, only the tables that can qualify. percentile_cont(0.95) over n sorted values v is at
    /// most v[ceil(0.95 (n - 1))], so it exceeds the threshold only if more than
    /// 0.05 (n - 1) of the values do: 20 × (values above) ≥ n − 1, tested with one row to spare
    /// against float rounding. The result is the same rows as sorting every table.
    func slowFindings(_ connection: PostgresConnection) async throws -> [Finding] {
        let rows = try await connection.query("""
            WITH candidates AS MATERIALIZED (
                SELECT schema_name, table_name
                FROM c77_secure_db_operation_audit
                WHERE created_at > now() - $1::interval AND execution_time_ms IS NOT NULL
                  AND schema_name IS NOT NULL AND table_name IS NOT NULL
                GROUP BY 1, 2
                HAVING 20 * count(*) FILTER (WHERE execution_time_ms > $2::int) >= count(*) - 2)
            SELECT a.schema_name, a.table_name, count(*) AS operations,
                   percentile_cont(0.95) WITHIN GROUP (ORDER BY a.execution_time_ms) AS p95,
                   max(a.execution_time_ms) AS max_ms
            FROM candidates c
            JOIN c77_secure_db_operation_audit a ON a.schema_name = c.schema_name AND a.table_name = c.table_name
            WHERE a.created_at > now() - $1::interval AND a.execution_time_ms IS NOT NULL
            GROUP BY 1, 2
            HAVING percentile_cont(0.95) WITHIN GROUP (ORDER BY a.execution_time_ms) > $2::int
            ORDER BY 1, 2
            """, [seconds(slowWindow), .text(String(slowOperationMs))])
        return try rows.map { row in
            let schema = try row.string("schema_name"), table = try row.string("table_name")
            let p95 = try row.double("p95")
            return Finding(
                type: .slowOperations, severity: .warning, subject: "\(schema).\(table)",
                summary: "Operations on \(schema).\(table) are slow: p95 \(String(cFormat: "%.0f", p95)) ms over \(slowWindow.humanReadable) (threshold \(slowOperationMs) ms)",
                schema: schema, table: table,
                details: ["p95_ms": .number(p95), "max_ms": .number(try row.double("max_ms")),
                          "operation_count": .number(Double(try row.int("operations"))),
                          "threshold_ms": .number(Double(slowOperationMs)), "window": .string(slowWindow.humanReadable)])
        }
    }

    /// Critical tables with no audited operation in the coverage window.
    func coverageFindings(_ connection: PostgresConnection) async throws -> [Finding] {
        var findings: [Finding] = []
        for table in criticalTables {
            let covered = try await connection.query("""
                SELECT EXISTS (SELECT 1 FROM c77_secure_db_operation_audit
                               WHERE schema_name = $1 AND table_name = $2 AND created_at > now() - $3::interval) AS covered
                """, [.text(table.schema), .text(table.table), seconds(coverageWindow)]).first?.bool("covered") ?? false
            if !covered {
                findings.append(Finding(
                    type: .auditCoverageGap, severity: .warning, subject: table.description,
                    summary: "No audited operation on critical table \(table) in \(coverageWindow.humanReadable)",
                    schema: table.schema, table: table.table,
                    details: ["window": .string(coverageWindow.humanReadable)]))
            }
        }
        return findings
    }
}
