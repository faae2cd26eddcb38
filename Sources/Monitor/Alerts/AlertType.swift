/// The stable name of a kind of finding. Operators route and silence alerts by these names,
/// so existing names never change; new kinds add new names.
public struct AlertType: RawRepresentable, Sendable, Codable, Hashable, CustomStringConvertible {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }

    /// A row whose stored content hash does not match its content, or protection that was removed.
    public static let dataTampering = AlertType(rawValue: "DATA_TAMPERING")
    /// The extension's error rate over the last hour is above `error_rate_threshold`.
    public static let highErrorRate = AlertType(rawValue: "HIGH_ERROR_RATE")
    /// More unused, unexpired authorization tokens than `active_tokens_threshold`.
    public static let tokenBuildup = AlertType(rawValue: "TOKEN_BUILDUP")
    /// One database user failing more operations than `error_threshold` within `error_window`.
    public static let highErrorRateUser = AlertType(rawValue: "HIGH_ERROR_RATE_USER")
    /// One database user performing more operations than `volume_threshold` within `volume_window`.
    public static let unusualActivityVolume = AlertType(rawValue: "UNUSUAL_ACTIVITY_VOLUME")
    /// Operations outside `business_hours`.
    public static let offHoursActivity = AlertType(rawValue: "OFF_HOURS_ACTIVITY")
    /// The daemon cannot reach the database.
    public static let databaseUnreachable = AlertType(rawValue: "DATABASE_UNREACHABLE")
    /// A job run failed or timed out.
    public static let jobFailed = AlertType(rawValue: "JOB_FAILED")
}

extension AlertType {
    /// A sink could not deliver alerts (webhook endpoint gone, or a delivery abandoned).
    public static let alertDeliveryFailed = AlertType(rawValue: "ALERT_DELIVERY_FAILED")
}

extension AlertType {
    /// A table in a secure schema that cannot be verified (e.g. no single-column primary key).
    public static let tableNotVerifiable = AlertType(rawValue: "TABLE_NOT_VERIFIABLE")
    /// The daemon recomputed content hashes because `fix_mismatches` is on.
    public static let hashesRecomputed = AlertType(rawValue: "HASHES_RECOMPUTED")
    /// Protection of a secure table, schema or the extension itself is missing, disabled or altered.
    public static let protectionDrift = AlertType(rawValue: "PROTECTION_DRIFT")
    /// A prefix of the audit chain was purged (its start moved to a new anchor): who, when, how
    /// much. Purging is legitimate retention, but removes evidence, so each one is shown once.
    public static let auditPurged = AlertType(rawValue: "AUDIT_PURGED")
}

extension AlertType {
    /// A table's operations are slow: p95 execution time above `slow_operation_ms`.
    public static let slowOperations = AlertType(rawValue: "SLOW_OPERATIONS")
    /// A critical table had no audited operation within `coverage_window`.
    public static let auditCoverageGap = AlertType(rawValue: "AUDIT_COVERAGE_GAP")
}
