import MonitorConfig
import Postgres

/// A table of a registered secure schema that has `content_hash`, with the planner's row
/// estimate: what the integrity jobs go through.
struct SecureTableTarget: Sendable {
    var table: SecureTable
    var estimatedRows: Int?

    /// Every such table, in name order; or, with `wanted`, those tables in its order (one that
    /// is not such a table is an error naming the configuration `section`).
    static func discover(_ context: JobContext, wanted: [SecureTable]?, section: String) async throws -> [SecureTableTarget] {
        let rows = try await context.database.withConnection { connection in
            try await connection.query("""
                SELECT n.nspname AS schema_name, c.relname AS table_name, c.reltuples::bigint AS estimate
                FROM c77_secure_db_secure_schemas s
                JOIN pg_namespace n ON n.nspname = s.schema_name
                JOIN pg_class c ON c.relnamespace = n.oid AND c.relkind IN ('r', 'p')
                WHERE EXISTS (SELECT 1 FROM pg_attribute a
                              WHERE a.attrelid = c.oid AND a.attname = 'content_hash' AND NOT a.attisdropped)
                  AND NOT c.relispartition
                ORDER BY 1, 2
                """)
        }
        var found: [SecureTable: Int?] = [:]
        var order: [SecureTable] = []
        for row in rows {
            let table = SecureTable(schema: try row.string("schema_name"), table: try row.string("table_name"))
            let estimate = try row.int("estimate")
            found[table] = estimate >= 0 ? estimate : nil
            order.append(table)
        }
        guard let wanted else {
            return order.map { SecureTableTarget(table: $0, estimatedRows: found[$0] ?? nil) }
        }
        var targets: [SecureTableTarget] = []
        for table in wanted {
            guard let estimate = found[table] else {
                throw JobError("[\(section)] tables: \(table) is not a table with content_hash in a registered secure schema")
            }
            targets.append(SecureTableTarget(table: table, estimatedRows: estimate))
        }
        return targets
    }
}
