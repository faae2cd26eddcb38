/// Removes expired and used authorization tokens with `c77_secure_db_cleanup_expired_tokens()`.
public struct TokenCleanupJob: MonitorJob {
    public let name = "token_cleanup"

    public init() {}

    public func run(in context: JobContext) async throws -> JobReport {
        let removed = try await context.database.withConnection { connection in
            try await connection.query("SELECT c77_secure_db_cleanup_expired_tokens() AS removed").first?.int("removed")
        }
        let count = removed ?? 0
        return JobReport(summary: "removed \(count) expired token(s)", figures: ["removed": .number(Double(count))])
    }
}
