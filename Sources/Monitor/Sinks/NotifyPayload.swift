import ControlSocket
import FoundationEssentials

/// The JSON payload of the NOTIFY sink, always within PostgreSQL's NOTIFY limit.
enum NotifyPayload {
    /// NOTIFY payloads must be shorter than 8000 bytes.
    static let maximumBytes = 7999

    /// The alert as JSON. When that is too long, `details` is replaced by a marker
    /// (`{"truncated": true, "original_bytes": N}`) and, if still needed, the summary is cut,
    /// so a payload is never refused.
    static func encode(_ alert: Alert) -> String {
        let full = json(alert)
        if full.utf8.count <= maximumBytes { return full }
        var shortened = alert
        shortened.details = ["truncated": true, "original_bytes": .number(Double(full.utf8.count))]
        var text = json(shortened)
        if text.utf8.count <= maximumBytes { return text }
        let marker = "…[truncated]"
        var budget = alert.summary.utf8.count - (text.utf8.count - maximumBytes) - marker.utf8.count - 16
        while budget > 0 {
            shortened.summary = String(decoding: Array(alert.summary.utf8.prefix(budget)), as: UTF8.self) + marker
            text = json(shortened)
            if text.utf8.count <= maximumBytes { return text }
            budget -= 64
        }
        shortened.summary = marker
        return json(shortened)
    }

    private static func json(_ alert: Alert) -> String {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? String(decoding: encoder.encode(alert), as: UTF8.self)) ?? "{}"
    }
}
