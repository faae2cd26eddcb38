import Foundation

/// The rows of a statement's result, in text form, with typed accessors.
public struct PostgresResult: Sendable, RandomAccessCollection {
    public let columns: [String]
    public let rows: [PostgresRow]
    /// Rows inserted, updated, deleted… (`PQcmdTuples`), 0 when not applicable.
    public let rowsAffected: Int

    public var startIndex: Int { rows.startIndex }
    public var endIndex: Int { rows.endIndex }
    public subscript(position: Int) -> PostgresRow { rows[position] }
}

/// One row; values are the server's text output, nil for NULL.
public struct PostgresRow: Sendable {
    let columnIndex: [String: Int]
    public let values: [String?]

    /// The value of `column`, nil for NULL or an unknown column.
    public subscript(column: String) -> String? {
        columnIndex[column].flatMap { values[$0] }
    }

    /// The value at position `index`, nil for NULL.
    public subscript(index index: Int) -> String? {
        values.indices.contains(index) ? values[index] : nil
    }

    private func raw(_ column: String) throws(PostgresError) -> String {
        guard let index = columnIndex[column] else {
            throw PostgresError(.decoding, message: "no column '\(column)' in the result")
        }
        guard let value = values[index] else {
            throw PostgresError(.decoding, message: "column '\(column)' is NULL")
        }
        return value
    }

    public func string(_ column: String) throws(PostgresError) -> String { try raw(column) }

    /// The value, or nil when it is NULL.
    public func optionalString(_ column: String) throws(PostgresError) -> String? {
        guard columnIndex[column] != nil else { throw PostgresError(.decoding, message: "no column '\(column)' in the result") }
        return self[column]
    }

    public func int(_ column: String) throws(PostgresError) -> Int {
        let text = try raw(column)
        guard let value = Int(text) else { throw PostgresError(.decoding, message: "column '\(column)' is not an integer: \(text)") }
        return value
    }

    public func double(_ column: String) throws(PostgresError) -> Double {
        let text = try raw(column)
        guard let value = Double(text) else { throw PostgresError(.decoding, message: "column '\(column)' is not a number: \(text)") }
        return value
    }

    public func bool(_ column: String) throws(PostgresError) -> Bool {
        switch try raw(column) {
        case "t": return true
        case "f": return false
        case let text: throw PostgresError(.decoding, message: "column '\(column)' is not a boolean: \(text)")
        }
    }

    /// A json/jsonb column decoded as `T`.
    public func json<T: Decodable>(_ column: String, as type: T.Type = T.self) throws(PostgresError) -> T {
        let text = try raw(column)
        do {
            return try JSONDecoder().decode(T.self, from: Data(text.utf8))
        } catch {
            throw PostgresError(.decoding, message: "column '\(column)' is not the expected JSON: \(error)")
        }
    }
}
