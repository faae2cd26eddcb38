/// A table of a secure schema, as the verification job addresses it.
public struct SecureTable: Sendable, Hashable, Codable, CustomStringConvertible {
    public var schema: String
    public var table: String

    public init(schema: String, table: String) {
        self.schema = schema
        self.table = table
    }

    /// `schema.table`, as in `[job.hash_verification] tables` and in alerts.
    public var description: String { "\(schema).\(table)" }
}
