import Foundation

/// A statement parameter, sent in text format and always bound, never spliced into SQL.
public enum PostgresValue: Sendable, Hashable {
    case null
    case text(String)

    /// The text libpq sends, or nil for SQL NULL.
    var wireText: String? {
        switch self {
        case .null: nil
        case .text(let text): text
        }
    }

    public init(_ value: Int) { self = .text(String(value)) }
    public init(_ value: Int64) { self = .text(String(value)) }
    public init(_ value: Double) { self = .text(String(value)) }
    public init(_ value: Bool) { self = .text(value ? "true" : "false") }
    /// A timestamp with time zone, in ISO 8601 with fractional seconds, UTC.
    public init(_ value: Date) {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        self = .text(formatter.string(from: value))
    }
}

extension PostgresValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral, ExpressibleByNilLiteral {
    public init(stringLiteral value: String) { self = .text(value) }
    public init(integerLiteral value: Int) { self.init(value) }
    public init(booleanLiteral value: Bool) { self.init(value) }
    public init(nilLiteral: ()) { self = .null }
}
