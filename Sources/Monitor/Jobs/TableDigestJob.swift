import ControlSocket
import DigestLog
import FoundationEssentials
import MonitorConfig
import Postgres

/// Keeps digests of every row of every secure table outside the database and checks the
/// tables against them (`[job.table_digest]`, extension 2.1).
///
/// A table is split into primary-key buckets; the daemon keeps each bucket's row count and
/// digest and the digests of its rows (`<state_directory>/table-digests/`), and appends a
/// root per table to the signed digest log (``DigestLog``), so that the kept digests cannot be
/// edited unnoticed. Each pass asks the extension for the buckets' digests now
/// (`c77_secure_db_bucket_digests()`), fetches the rows of the buckets that differ
/// (`c77_secure_db_row_digests()`), and requires every changed, vanished or appeared row to
/// be explained by a successful audited operation on it since the last pass. Every row that
/// is not — a superuser's write with triggers off and the content hash recomputed passes hash
/// verification, but not this — is a critical `DATA_TAMPERING` alert naming the row.
public struct TableDigestJob: MonitorJob {
    public let name = "table_digest"
    /// Tables to check; nil means every table of every registered secure schema.
    public var tables: [SecureTable]?
    public var bucketRows: Int
    /// Above this many unexplained rows in one table, the rest are summarized in one alert.
    public var floodThreshold: Int

    public init(tables: [SecureTable]?, bucketRows: Int, floodThreshold: Int) {
        self.tables = tables
        self.bucketRows = bucketRows
        self.floodThreshold = floodThreshold
    }

    public func run(in context: JobContext) async throws -> JobReport {
        let supported = try await context.database.withConnection { connection in
            try await connection.query(
                "SELECT to_regprocedure('c77_secure_db_bucket_digests(text, text, text[])') IS NOT NULL AS supported"
            ).first?.bool("supported")
        } ?? false
        guard supported else {
            return JobReport(summary: "the extension has no table digests (before 2.1): ALTER EXTENSION c77_secure_db UPDATE",
                             figures: ["supported": .bool(false)])
        }
        let auditSeq = try await context.database.withConnection { connection in
            try await connection.query("SELECT seal_seq FROM c77_secure_db_audit_chain_head()").first?.int("seal_seq")
        } ?? 0
        let log = DigestLog(stateDirectory: context.stateDirectory)
        let signedRoots = try signedTableRoots(log, context: context)
        let store = TableDigestStore(stateDirectory: context.stateDirectory)
        let targets = try await SecureTableTarget.discover(context, wanted: tables, section: "job.table_digest")

        let started = ContinuousClock.now
        var states: [TableDigestState] = []
        var rows = 0, buckets = 0, changedBuckets = 0, findings = 0, baselines = 0
        var undigestible: [String] = []
        for target in targets {
            try Task.checkCancellation()
            let pass = TableDigestPass(job: name, target: target, context: context, store: store,
                                       bucketRows: bucketRows, floodThreshold: floodThreshold)
            do {
                let outcome = try await pass.run(auditSeq: auditSeq, signedRoot: signedRoots[target.table.description])
                states.append(outcome.state)
                rows += outcome.rows
                buckets += outcome.state.buckets.count
                changedBuckets += outcome.changedBuckets
                findings += outcome.findings
                if outcome.baseline { baselines += 1 }
            } catch let error as TableDigestPass.Undigestible {
                undigestible.append("\(target.table): \(error.reason)")
                await context.alerts.raise(Alert(
                    type: .tableNotVerifiable, severity: .warning,
                    summary: "\(target.table) cannot be digested: \(error.reason)",
                    job: name, database: context.database.reachability.database,
                    schema: target.table.schema, table: target.table.table,
                    details: ["reason": .string(error.reason)],
                    fingerprint: "table_digest_not_digestible:\(target.table)"
                ))
            }
        }
        try await record(states, signedRoots: signedRoots, store: store, log: log, context: context)
        let seconds = (ContinuousClock.now - started).timeInterval
        let rate = seconds > 0 ? Double(rows) / seconds : 0
        var summary = "digested \(rows) rows in \(states.count) table(s), \(buckets) buckets: \(changedBuckets) changed, \(findings) finding(s)"
        if baselines > 0 { summary += ", \(baselines) table(s) recorded afresh" }
        if !undigestible.isEmpty { summary += ", \(undigestible.count) table(s) not digestible" }
        return JobReport(summary: summary, figures: [
            "tables": .number(Double(states.count)), "rows": .number(Double(rows)), "buckets": .number(Double(buckets)),
            "changed_buckets": .number(Double(changedBuckets)), "findings": .number(Double(findings)),
            "baselines": .number(Double(baselines)), "rows_per_second": .number(rate.rounded()),
            "audit_head_seq": .number(Double(auditSeq)), "undigestible": .array(undigestible.map(JSONValue.string)),
        ])
    }

    /// The table roots of the signed digest log's latest entry that has them. A log that does
    /// not verify is not trusted, nor touched: it is evidence, which the audit_chain job reports.
    private func signedTableRoots(_ log: DigestLog, context: JobContext) throws -> [String: String] {
        guard FileManager.default.fileExists(atPath: log.path) || FileManager.default.fileExists(atPath: log.keyPath) else { return [:] }
        let check = try context.memory.checkDigestLog(log, full: false)
        if let problem = check.problems.first {
            throw JobError("table digests: the digest log \(log.path) does not verify (\(problem)); it is left as it is")
        }
        return check.verified?.tableRoots ?? [:]
    }

    /// Saves the tables' new states as pending and, when a root moved, appends the roots to
    /// the signed digest log (with the audit chain head of its last entry, which this job does
    /// not advance) and records that entry in the database; then commits the states and drops
    /// leaves nothing refers to. (A crash in between leaves pending states that the next pass
    /// settles against the log: see ``TableDigestStore``.)
    private func record(_ states: [TableDigestState], signedRoots: [String: String], store: TableDigestStore,
                        log: DigestLog, context: JobContext) async throws {
        var roots = signedRoots
        for state in states {
            try store.savePending(state)
            roots[state.table.description] = state.root
        }
        if roots != signedRoots {
            let appended = try context.memory.appendToDigestLog {
                let last = try log.lastEntry()
                return try log.append(auditHeadSeq: last?.auditHeadSeq ?? 0, auditHeadDigest: last?.auditHeadDigest ?? DigestEntry.genesis,
                                      tableRoots: roots, after: last)
            }
            if let appended { try await context.recordDigestHead(appended) }
        }
        for state in states { try store.commit(state.table) }
        store.removeLeaves(keeping: store.allStates())
    }
}
