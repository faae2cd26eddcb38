import ControlSocket
import Crypto
import EssentialsSupport
import FoundationEssentials
import MonitorConfig
import Systemd

/// Writes one journal entry per alert, in journald's native protocol, with the alert's
/// fields as structured journal fields:
///
/// `MESSAGE`, `PRIORITY` (critical→2, high→3, warning→4, info→6), `MESSAGE_ID` (stable per
/// alert type), `SYSLOG_IDENTIFIER=c77-secure-dbd`, and `C77_ALERT_ID`, `C77_ALERT_TYPE`,
/// `C77_SEVERITY`, `C77_STATUS`, `C77_FINGERPRINT`, `C77_JOB`, `C77_DATABASE`, `C77_SCHEMA`,
/// `C77_TABLE`, `C77_RECORD_ID`, `C77_DETAILS` (JSON) where they apply. So
/// `journalctl C77_ALERT_TYPE=DATA_TAMPERING` lists every tampering alert.
public actor JournaldSink: AlertSink {
    public nonisolated let name = "journald"
    public nonisolated let minSeverity: Severity
    private let writer: JournalWriter
    private var counters = SinkStatus(name: "journald")

    public init(socketPath: String, minSeverity: Severity) {
        self.writer = JournalWriter(socketPath: socketPath)
        self.minSeverity = minSeverity
    }

    public func enqueue(_ alert: Alert) {
        do {
            try writer.send(Self.fields(for: alert))
            counters.sent += 1
            counters.lastError = nil
        } catch {
            counters.failed += 1
            counters.lastError = "\(error)"
        }
    }

    public func status() -> SinkStatus { counters }

    /// The journal fields of an alert, in the order they are sent.
    static func fields(for alert: Alert) -> [(String, String)] {
        var fields: [(String, String)] = [
            ("MESSAGE", "\(alert.type)\(alert.status == .resolved ? " resolved" : ""): \(alert.summary)"),
            ("PRIORITY", String(alert.severity.syslogPriority)),
            ("MESSAGE_ID", messageID(for: alert.type)),
            ("SYSLOG_IDENTIFIER", "c77-secure-dbd"),
            ("C77_ALERT_ID", alert.id),
            ("C77_ALERT_TYPE", alert.type.rawValue),
            ("C77_SEVERITY", alert.severity.rawValue),
            ("C77_STATUS", alert.status.rawValue),
            ("C77_FINGERPRINT", alert.fingerprint),
        ]
        let optional: [(String, String?)] = [
            ("C77_JOB", alert.job), ("C77_DATABASE", alert.database), ("C77_SCHEMA", alert.schema),
            ("C77_TABLE", alert.table), ("C77_RECORD_ID", alert.recordID),
        ]
        for (name, value) in optional {
            if let value { fields.append((name, value)) }
        }
        if !alert.details.isEmpty, let json = try? JSONEncoder().encode(alert.details) {
            fields.append(("C77_DETAILS", String(decoding: json, as: UTF8.self)))
        }
        return fields
    }

    /// A 128-bit id, the same for every alert of one type: the first half of
    /// SHA-256("c77-secure-db alert " + type), hex, as `journalctl MESSAGE_ID=` expects.
    static func messageID(for type: AlertType) -> String {
        let digest = SHA256.hash(data: Data("c77-secure-db alert \(type.rawValue)".utf8))
        return digest.prefix(16).hexadecimal
    }
}

extension Severity {
    /// The syslog priority journald stores in `PRIORITY`.
    var syslogPriority: Int {
        switch self {
        case .critical: 2
        case .high: 3
        case .warning: 4
        case .info: 6
        }
    }
}
