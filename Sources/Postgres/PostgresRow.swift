import FoundationEssentials

/// One result row: text values by column name or position, plus typed decoders that throw
/// ``PostgresError/Code/decoding`` errors naming the column and the offending value.
public struct PostgresRow: Sendable {
    /// Column names, in order.
    public let columns: [String]
    /// Values in column order; `nil` is SQL NULL.
    public let values: [String?]

    /// Creates a row.
    public init(columns: [String], values: [String?]) {
        self.columns = columns
        self.values = values
    }

    /// The value of the first column named `column`, or `nil` when NULL or absent.
    public subscript(_ column: String) -> String? {
        columns.firstIndex(of: column).flatMap { values[$0] }
    }

    /// The value at position `index`, or `nil` when NULL or out of range.
    public subscript(index index: Int) -> String? {
        values.indices.contains(index) ? values[index] : nil
    }

    /// The value of `column`, or `nil` for NULL. Throws when there is no such column.
    public func optionalString(_ column: String) throws -> String? {
        guard let index = columns.firstIndex(of: column) else {
            throw PostgresError(.decoding, "no column \"\(column)\" (columns: \(columns.joined(separator: ", ")))")
        }
        return values[index]
    }

    /// The non-NULL value of `column`.
    public func string(_ column: String) throws -> String {
        guard let value = try optionalString(column) else {
            throw PostgresError(.decoding, "column \"\(column)\" is NULL")
        }
        return value
    }

    /// `column` as an `Int` (`smallint`, `integer`, `bigint`).
    public func int(_ column: String) throws -> Int {
        try decode(column, as: "an integer", Int.init)
    }

    /// `column` as an `Int64`.
    public func int64(_ column: String) throws -> Int64 {
        try decode(column, as: "a 64-bit integer", Int64.init)
    }

    /// `column` as a `Double` (`real`, `double precision`, `numeric`; `Infinity`/`NaN` included).
    public func double(_ column: String) throws -> Double {
        try decode(column, as: "a number") { text in
            switch text {
            case "Infinity": Double.infinity
            case "-Infinity": -Double.infinity
            case "NaN": Double.nan
            default: Double(text)
            }
        }
    }

    /// `column` as a `Bool` (PostgreSQL's text form `t`/`f`).
    public func bool(_ column: String) throws -> Bool {
        try decode(column, as: "a boolean (t/f)") { text in
            switch text {
            case "t": true
            case "f": false
            default: nil
            }
        }
    }

    /// The JSON text of a `json`/`jsonb` column as UTF-8 `Data`, ready for `JSONDecoder`.
    public func json(_ column: String) throws -> Data {
        Data(try string(column).utf8)
    }

    private func decode<T>(_ column: String, as kind: String, _ parse: (String) -> T?) throws -> T {
        let text = try string(column)
        guard let value = parse(text) else {
            throw PostgresError(.decoding, "column \"\(column)\": expected \(kind), got \"\(text.prefix(64))\"")
        }
        return value
    }
}
