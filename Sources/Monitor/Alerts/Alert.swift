import ControlSocket
import Foundation
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
