import ControlSocket
import FoundationEssentials
import MonitorConfig

/// The JSON bodies the webhook sink posts.
enum WebhookPayload {
    /// `native`: the alert itself, as `c77-secure-dbctl alerts --json` shows it.
    static func native(_ alert: Alert) throws -> Data {
        try encoder.encode(alert)
    }

    /// `alertmanager`: the body Prometheus Alertmanager sends to webhook receivers (version 4),
    /// so receivers written for Alertmanager accept our alerts unchanged.
    static func alertmanager(_ alert: Alert) throws -> Data {
        var labels: [String: String] = [
            "alertname": alert.type.rawValue,
            "severity": alert.severity.rawValue,
            "fingerprint": alert.fingerprint,
        ]
        labels["job"] = alert.job
        labels["database"] = alert.database
        labels["schema"] = alert.schema
        labels["table"] = alert.table
        labels["record_id"] = alert.recordID
        var annotations = ["summary": alert.summary]
        if !alert.details.isEmpty, let details = try? String(decoding: encoder.encode(alert.details), as: UTF8.self) {
            annotations["details"] = details
        }
        let timestamp = alert.createdAt.formatted(.iso8601)
        let body = AlertmanagerBody(
            receiver: "c77-secure-dbd",
            status: alert.status.rawValue,
            alerts: [.init(
                status: alert.status.rawValue, labels: labels, annotations: annotations,
                startsAt: timestamp, endsAt: alert.status == .resolved ? timestamp : "0001-01-01T00:00:00Z",
                generatorURL: "", fingerprint: alert.fingerprint
            )],
            groupLabels: ["alertname": alert.type.rawValue],
            commonLabels: labels,
            commonAnnotations: annotations,
            externalURL: "",
            version: "4",
            groupKey: "{}:{alertname=\"\(alert.type.rawValue)\"}",
            truncatedAlerts: 0
        )
        return try encoder.encode(body)
    }

    private static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    private struct AlertmanagerBody: Encodable {
        struct Entry: Encodable {
            var status: String
            var labels: [String: String]
            var annotations: [String: String]
            var startsAt: String
            var endsAt: String
            var generatorURL: String
            var fingerprint: String
        }

        var receiver: String
        var status: String
        var alerts: [Entry]
        var groupLabels: [String: String]
        var commonLabels: [String: String]
        var commonAnnotations: [String: String]
        var externalURL: String
        var version: String
        var groupKey: String
        var truncatedAlerts: Int
    }
}
