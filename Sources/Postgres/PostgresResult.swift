/// The rows and command status of one statement, copied out of libpq (text format).
public struct PostgresResult: Sendable, RandomAccessCollection {
    /// Column names, in order.
    public let columns: [String]
    /// Rows affected by INSERT/UPDATE/DELETE/MERGE/SELECT/…, from the command tag (0 when it has none).
    public let rowsAffected: Int
    /// The command tag, e.g. `INSERT 0 1` or `SELECT 3`.
    public let commandTag: String
    private let rows: [[String?]]

    /// Creates a result from already-copied values.
    public init(columns: [String], rows: [[String?]], rowsAffected: Int, commandTag: String) {
        self.columns = columns
        self.rows = rows
        self.rowsAffected = rowsAffected
        self.commandTag = commandTag
    }

    public var startIndex: Int { rows.startIndex }
    public var endIndex: Int { rows.endIndex }

    /// The row at `position`.
    public subscript(position: Int) -> PostgresRow {
        PostgresRow(columns: columns, values: rows[position])
    }
}
