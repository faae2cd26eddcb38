import ControlSocket
import EssentialsSupport
import FoundationEssentials
import Glibc
import MonitorConfig

/// One finding, from any job, in the one shape every sink receives.
public struct Alert: Sendable, Codable, Equatable, Identifiable {
    /// Whether the alert reports a condition that holds, or that a condition cleared.
    public enum Status: String, Sendable, Codable {
        case firing
        case resolved
    }

    /// Unique per delivery of this alert; webhooks reuse it as `webhook-id` on redelivery.
    public var id: String
    public var type: AlertType
    public var severity: Severity
    public var status: Status
    /// One line for humans.
    public var summary: String
    public var job: String?
    public var database: String?
    public var schema: String?
    public var table: String?
    public var recordID: String?
    /// Figures and context: thresholds, observed values, hashes, keys.
    public var details: [String: JSONValue]
    /// Same fingerprint, same finding: used for de-duplication and to match a resolution to
    /// the alert it resolves.
    public var fingerprint: String
    /// When the daemon made the finding (for a `resolved` notice: found that the condition
    /// cleared). Encoded twice: `created_at` to the second, `detected_at` to the microsecond.
    public var createdAt: Date

    public init(
        type: AlertType, severity: Severity, summary: String, status: Status = .firing,
        job: String? = nil, database: String? = nil, schema: String? = nil, table: String? = nil,
        recordID: String? = nil, details: [String: JSONValue] = [:], fingerprint: String? = nil,
        id: String = UUID().uuidString.lowercased(), createdAt: Date = Date()
    ) {
        self.id = id
        self.type = type
        self.severity = severity
        self.status = status
        self.summary = summary
        self.job = job
        self.database = database
        self.schema = schema
        self.table = table
        self.recordID = recordID
        self.details = details
        self.fingerprint = fingerprint ?? Alert.fingerprint(type, schema, table, recordID)
        self.createdAt = createdAt
    }

    /// The default fingerprint: the alert type and the object it is about.
    public static func fingerprint(_ type: AlertType, _ parts: String?...) -> String {
        ([type.rawValue] + parts.map { $0 ?? "" }).joined(separator: "|")
    }

    enum CodingKeys: String, CodingKey {
        case id, type, severity, status, summary, job, database, schema, table, details, fingerprint
        case recordID = "record_id"
        case createdAt = "created_at"
        case detectedAt = "detected_at"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decode(String.self, forKey: .id)
        type = try container.decode(AlertType.self, forKey: .type)
        severity = try container.decode(Severity.self, forKey: .severity)
        status = try container.decode(Status.self, forKey: .status)
        summary = try container.decode(String.self, forKey: .summary)
        job = try container.decodeIfPresent(String.self, forKey: .job)
        database = try container.decodeIfPresent(String.self, forKey: .database)
        schema = try container.decodeIfPresent(String.self, forKey: .schema)
        table = try container.decodeIfPresent(String.self, forKey: .table)
        recordID = try container.decodeIfPresent(String.self, forKey: .recordID)
        details = try container.decode([String: JSONValue].self, forKey: .details)
        fingerprint = try container.decode(String.self, forKey: .fingerprint)
        let detected = try container.decodeIfPresent(String.self, forKey: .detectedAt).flatMap(DetectionTimestamp.date(from:))
        createdAt = try detected ?? container.decode(Date.self, forKey: .createdAt)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(type, forKey: .type)
        try container.encode(severity, forKey: .severity)
        try container.encode(status, forKey: .status)
        try container.encode(summary, forKey: .summary)
        try container.encodeIfPresent(job, forKey: .job)
        try container.encodeIfPresent(database, forKey: .database)
        try container.encodeIfPresent(schema, forKey: .schema)
        try container.encodeIfPresent(table, forKey: .table)
        try container.encodeIfPresent(recordID, forKey: .recordID)
        try container.encode(details, forKey: .details)
        try container.encode(fingerprint, forKey: .fingerprint)
        try container.encode(createdAt, forKey: .createdAt)
        try container.encode(DetectionTimestamp.string(from: createdAt), forKey: .detectedAt)
    }
}

/// `detected_at`: RFC 3339 in UTC with six fractional digits, `2025-06-01T01:00:03.123456Z`,
/// whatever date encoding the surrounding JSON uses, so receivers can measure delivery delay.
enum DetectionTimestamp {
    static func string(from date: Date) -> String {
        let microseconds = Int64((date.timeIntervalSince1970 * 1_000_000).rounded())
        var seconds = time_t(microseconds.quotientAndRemainder(dividingBy: 1_000_000).quotient)
        var fraction = microseconds % 1_000_000
        if fraction < 0 {
            seconds -= 1
            fraction += 1_000_000
        }
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return String(cFormat: "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ",
                      Int32(parts.tm_year) + 1900, parts.tm_mon + 1, parts.tm_mday,
                      parts.tm_hour, parts.tm_min, parts.tm_sec, fraction)
    }

    static func date(from text: String) -> Date? {
        guard text.hasSuffix("Z") else { return nil }
        let body = text.dropLast()
        let whole = body.split(separator: ".", maxSplits: 1)
        guard let seconds = try? Date(String(whole[0]) + "Z", strategy: .iso8601) else { return nil }
        guard whole.count == 2 else { return seconds }
        guard let fraction = Double("0." + whole[1]), whole[1].allSatisfy(\.isNumber) else { return nil }
        return seconds.addingTimeInterval(fraction)
    }
}

extension Alert {
    static func jobFailedFingerprint(job: String) -> String {
        fingerprint(.jobFailed, job)
    }

    /// A job run that failed or timed out.
    static func jobFailed(job: String, outcome: String, error: String) -> Alert {
        Alert(
            type: .jobFailed, severity: .high,
            summary: "Job \(job) \(outcome == "timed_out" ? "timed out" : "failed"): \(error)",
            job: job, details: ["outcome": .string(outcome), "error": .string(error)],
            fingerprint: jobFailedFingerprint(job: job)
        )
    }
}
