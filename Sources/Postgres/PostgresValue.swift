import FoundationEssentials

/// A statement parameter, always sent bound in text format (never interpolated into SQL).
///
/// PostgreSQL parses the text according to the parameter's inferred type, so `.text("42")` binds
/// to an `integer` and `.text("t")` to a `boolean`. Add casts (`$1::int`) where inference needs help.
public enum PostgresValue: Sendable, Hashable {
    /// SQL NULL.
    case null
    /// A value in PostgreSQL's text representation.
    case text(String)

    /// A string, or NULL for `nil`.
    public init(_ value: String?) {
        self = value.map(PostgresValue.text) ?? .null
    }

    /// A decimal integer.
    public init(_ value: Int) {
        self = .text(String(value))
    }

    /// A decimal integer.
    public init(_ value: Int64) {
        self = .text(String(value))
    }

    /// A floating-point number (`inf`, `-inf` and `nan` are accepted by PostgreSQL).
    public init(_ value: Double) {
        self = .text(String(value))
    }

    /// `true` or `false`.
    public init(_ value: Bool) {
        self = .text(value ? "true" : "false")
    }

    /// An ISO 8601 UTC timestamp with milliseconds, for `timestamptz`.
    public init(_ value: Date) {
        self = .text(value.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true)))
    }
}

extension PostgresValue: ExpressibleByStringLiteral {
    public init(stringLiteral value: String) {
        self = .text(value)
    }
}

extension PostgresValue: ExpressibleByIntegerLiteral {
    public init(integerLiteral value: Int) {
        self.init(value)
    }
}

extension PostgresValue: ExpressibleByBooleanLiteral {
    public init(booleanLiteral value: Bool) {
        self.init(value)
    }
}

extension PostgresValue: ExpressibleByNilLiteral {
    public init(nilLiteral: ()) {
        self = .null
    }
}
