import EssentialsSupport
import FoundationEssentials

/// How serious an alert is. Ordered: `info < warning < high < critical`.
public enum Severity: String, Sendable, Codable, CaseIterable, Comparable {
    case info, warning, high, critical

    public static func < (lhs: Severity, rhs: Severity) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }
}

/// The daemon's log level (`[daemon] log_level`).
public enum LogLevel: String, Sendable, Equatable, CaseIterable {
    case trace, debug, info, notice, warning, error, critical
}

/// A table of a secure schema, written `schema.table` in the configuration.
public struct SecureTable: Sendable, Hashable, Codable, CustomStringConvertible {
    public var schema: String
    public var table: String

    public init(schema: String, table: String) {
        self.schema = schema
        self.table = table
    }

    /// `schema.table`.
    public var description: String { "\(schema).\(table)" }
}

/// Business hours, inclusive, as minutes since midnight; `start > end` wraps midnight.
public struct BusinessHours: Sendable, Equatable, CustomStringConvertible {
    public var start: Int
    public var end: Int

    public init(start: Int, end: Int) {
        self.start = start
        self.end = end
    }

    /// Whether `minute` (since midnight) falls within business hours.
    public func contains(_ minute: Int) -> Bool {
        start <= end ? (start...end).contains(minute) : (minute >= start || minute <= end)
    }

    public var description: String {
        String(cFormat: "%02d:%02d-%02d:%02d", start / 60, start % 60, end / 60, end % 60)
    }
}

extension Duration {
    /// The shortest exact form in the configuration's units: `15m`, `1h30m`, `500ms`.
    public var humanReadable: String {
        var milliseconds = components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000
        if milliseconds == 0 { return "0s" }
        var parts: [String] = []
        for (unit, size) in [("d", Int64(86_400_000)), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)] where milliseconds >= size {
            parts.append("\(milliseconds / size)\(unit)")
            milliseconds %= size
        }
        return parts.joined()
    }
}
