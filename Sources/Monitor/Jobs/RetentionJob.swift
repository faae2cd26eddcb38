import ControlSocket
import FoundationEssentials

/// Applies the retention policy (`[job.retention]`, off by default): removes audit rows older
/// than `audit_max_age` in batches of `batch_size` through the extension's
/// `c77_secure_db_purge_audit()`, which records every purge in the audit itself, and removes
/// expired or used tokens. Each batch is its own short transaction, so a purge of millions of
/// rows never holds long locks.
///
/// The purge function is for administrators: the daemon's role needs `EXECUTE` on it (or
/// `c77_secure_db_admin`) for this job.
public struct RetentionJob: MonitorJob {
    public let name = "retention"
    public var auditMaxAge: Duration
    public var batchSize: Int

    public init(auditMaxAge: Duration, batchSize: Int) {
        self.auditMaxAge = auditMaxAge
        self.batchSize = batchSize
    }

    public func run(in context: JobContext) async throws -> JobReport {
        var purged = 0
        while true {
            try Task.checkCancellation()
            let text = try await context.database.withConnection { connection in
                try await connection.query(
                    "SELECT c77_secure_db_purge_audit(now() - $1::interval, $2::int)::text AS result",
                    [.text("\(Int(auditMaxAge.timeInterval)) seconds"), .text(String(batchSize))]
                ).first?.string("result")
            }
            let result = try JSONDecoder().decode(JSONValue.self, from: Data((text ?? "{}").utf8))
            guard result["success"] == .bool(true) else {
                throw JobError("c77_secure_db_purge_audit failed: \(result["error"]?.stringValue ?? text ?? "")")
            }
            let deleted = result["deleted_count"]?.intValue ?? 0
            purged += deleted
            context.progress.report(JobProgress(current: "c77_secure_db_operation_audit", rowsDone: purged,
                                                rowsTotal: nil, rowsPerSecond: nil, etaSeconds: nil))
            if deleted < batchSize { break }
        }
        let tokens = try await context.database.withConnection { connection in
            try await connection.query("SELECT c77_secure_db_cleanup_expired_tokens() AS removed").first?.int("removed")
        } ?? 0
        return JobReport(
            summary: "purged \(purged) audit row(s) older than \(auditMaxAge.humanReadable), \(tokens) token(s)",
            figures: ["audit_rows_purged": .number(Double(purged)), "tokens_removed": .number(Double(tokens))]
        )
    }
}
