import ControlSocket
import FoundationEssentials
import MonitorConfig
import Postgres

/// Verifies the content hashes of every table of every registered secure schema (or the
/// configured `tables`), in keyset batches over primary-key ranges, each batch a short
/// statement of the extension's read-only `c77_secure_db_verify_range()` — the hash encoding
/// lives only in the extension. `concurrency` workers verify disjoint key ranges over their
/// own connections; `max_rows_per_second` throttles them together; a checkpoint per table in
/// `state_directory` lets a restarted daemon resume the pass.
///
/// Each pass first checks that the protection itself is intact (see `ProtectionDriftCheck`).
public struct HashVerificationJob: MonitorJob {
    public let name = "hash_verification"
    /// Tables to verify; nil means every table of every registered secure schema.
    public var tables: [SecureTable]?
    public var batchSize: Int
    public var maxRowsPerSecond: Int
    public var concurrency: Int
    public var fixMismatches: Bool
    /// Above this many mismatches in one table, the rest are summarized in one alert.
    public var floodThreshold: Int
    public var statementTimeout: Duration?

    public init(tables: [SecureTable]?, batchSize: Int, maxRowsPerSecond: Int, concurrency: Int,
                fixMismatches: Bool, floodThreshold: Int, statementTimeout: Duration?) {
        self.tables = tables
        self.batchSize = batchSize
        self.maxRowsPerSecond = maxRowsPerSecond
        self.concurrency = concurrency
        self.fixMismatches = fixMismatches
        self.floodThreshold = floodThreshold
        self.statementTimeout = statementTimeout
    }

    public func run(in context: JobContext) async throws -> JobReport {
        let drift = try await ProtectionDriftCheck(stateDirectory: context.stateDirectory, job: name).run(in: context)
        let targets = try await SecureTableTarget.discover(context, wanted: tables, section: "job.hash_verification")
        let throttle = RowThrottle(rowsPerSecond: maxRowsPerSecond)
        var rows = 0, mismatches = 0, unhashed = 0, fixed = 0
        var unverifiable: [String] = []
        for target in targets {
            do {
                let (checkpoint, found) = try await verify(target, throttle: throttle, context: context)
                rows += checkpoint.rowsDone
                mismatches += checkpoint.mismatches
                unhashed += checkpoint.unhashed
                if checkpoint.unhashed > 0 {
                    // Protection hashes every row it admits (and every row it found on
                    // registration), so a row without a hash was written past it.
                    await context.alerts.raise(Alert(
                        type: .dataTampering, severity: .critical,
                        summary: "\(checkpoint.unhashed) row(s) of \(target.table) have no content hash: written past the protection",
                        job: name, database: context.database.reachability.database,
                        schema: target.table.schema, table: target.table.table,
                        details: ["unhashed_count": .number(Double(checkpoint.unhashed))],
                        fingerprint: "unhashed:\(target.table)"
                    ))
                }
                if !found.isEmpty, fixMismatches {
                    fixed += try await fix(target.table, found, context: context)
                }
            } catch let error as UnverifiableTable {
                unverifiable.append("\(target.table): \(error.reason)")
                await context.alerts.raise(Alert(
                    type: .tableNotVerifiable, severity: .warning,
                    summary: "\(target.table) cannot be verified: \(error.reason)",
                    job: name, database: context.database.reachability.database,
                    schema: target.table.schema, table: target.table.table,
                    details: ["reason": .string(error.reason)]
                ))
            }
        }
        var summary = "verified \(rows) rows in \(targets.count - unverifiable.count) table(s): \(mismatches) mismatch(es), \(unhashed) unhashed"
        if !unverifiable.isEmpty { summary += ", \(unverifiable.count) table(s) not verifiable" }
        if fixed > 0 { summary += ", \(fixed) hash(es) recomputed" }
        if drift.findings > 0 { summary += ", \(drift.findings) protection problem(s)" }
        return JobReport(summary: summary, figures: [
            "rows_verified": .number(Double(rows)),
            "tables": .number(Double(targets.count)),
            "mismatches": .number(Double(mismatches)),
            "unhashed": .number(Double(unhashed)),
            "fixed": .number(Double(fixed)),
            "unverifiable": .array(unverifiable.map(JSONValue.string)),
            "protection_findings": .number(Double(drift.findings)),
        ])
    }

    /// A table the extension cannot verify (e.g. no single-column primary key).
    struct UnverifiableTable: Error {
        var reason: String
    }

    /// Verifies one table, resuming from its checkpoint when a previous pass was interrupted.
    /// Returns the final checkpoint and, with `fix_mismatches`, the mismatches this run found
    /// (those found before a restart were alerted on and are found again by the next pass).
    func verify(_ target: SecureTableTarget, throttle: RowThrottle, context: JobContext) async throws
        -> (VerificationCheckpoint, [RangeResult.Mismatch]) {
        let store = CheckpointStore(stateDirectory: context.stateDirectory)
        let checkpoint: VerificationCheckpoint
        if let saved = store.load(target.table) {
            context.logger.info("Resuming verification from checkpoint", metadata: [
                "table": "\(target.table)", "rows_done": "\(saved.rowsDone)",
            ])
            checkpoint = saved
        } else {
            checkpoint = try await freshCheckpoint(target.table, context: context)
        }
        let pass = VerificationPass(checkpoint: checkpoint, store: store, context: context, job: name,
                                    floodThreshold: floodThreshold, rowsTotal: target.estimatedRows,
                                    collectsMismatches: fixMismatches)
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (index, segment) in checkpoint.segments.enumerated() where !segment.done {
                    group.addTask {
                        try await self.work(segment: index, from: segment, pass: pass, throttle: throttle, context: context)
                    }
                }
                try await group.waitForAll()
            }
        } catch {
            await pass.save()
            throw error
        }
        await pass.finish()
        return (await pass.checkpoint, await pass.mismatchesToFix)
    }

    /// Splits the table's key space into one segment per worker.
    private func freshCheckpoint(_ table: SecureTable, context: JobContext) async throws -> VerificationCheckpoint {
        var bounds: [String] = []
        if concurrency > 1 {
            let text = try await context.database.withConnection { connection in
                try await connection.query(
                    "SELECT c77_secure_db_split_key_range($1, $2, $3)::text AS splits",
                    [.text(table.schema), .text(table.table), .text(String(concurrency))]
                ).first?.string("splits")
            }
            bounds = try JSONDecoder().decode([String].self, from: Data((text ?? "[]").utf8))
        }
        var segments: [VerificationCheckpoint.Segment] = []
        var start: String?
        for bound in bounds {
            segments.append(.init(afterKey: start, untilKey: bound, done: false))
            start = bound
        }
        segments.append(.init(afterKey: start, untilKey: nil, done: false))
        return VerificationCheckpoint(table: table, startedAt: Date(), segments: segments, rowsDone: 0, mismatches: 0, unhashed: 0)
    }

    /// One worker: batches of `batch_size` rows over its own connection until its segment ends.
    private func work(segment index: Int, from segment: VerificationCheckpoint.Segment, pass: VerificationPass,
                      throttle: RowThrottle, context: JobContext) async throws {
        let table = await pass.table
        let connection = try await context.database.openConnection()
        defer { connection.close() }
        if let statementTimeout {
            _ = try await connection.query("SELECT pg_catalog.set_config('statement_timeout', $1, false)",
                                           [.text(String(Int(statementTimeout.timeInterval * 1000)))])
        }
        var after = segment.afterKey
        while true {
            try Task.checkCancellation()
            try await throttle.acquire(batchSize)
            let text = try await connection.query(
                "SELECT c77_secure_db_verify_range($1, $2, $3, $4, $5)::text AS result",
                [.text(table.schema), .text(table.table), after.map(PostgresValue.text) ?? .null,
                 .text(String(batchSize)), segment.untilKey.map(PostgresValue.text) ?? .null]
            ).first?.string("result")
            let result = try JSONDecoder().decode(RangeResult.self, from: Data((text ?? "{}").utf8))
            guard result.success else { throw UnverifiableTable(reason: result.error ?? "verification failed") }
            await pass.record(segment: index, result: result)
            if result.done == true || result.lastKey == nil { return }
            after = result.lastKey
        }
    }

    /// Recomputes the hashes of exactly the rows this pass found mismatching and alerted on
    /// (`fix_mismatches = true`; the alerts went out first), one audited
    /// `c77_secure_db_fix_content_hash()` each. Not the extension's own
    /// `verify_content_hashes(…, true)`: that verifies again and would also rewrite rows
    /// tampered after this pass, which nobody was alerted about. Needs c77_secure_db_admin.
    private func fix(_ table: SecureTable, _ mismatches: [RangeResult.Mismatch], context: JobContext) async throws -> Int {
        let fixed = try await context.database.withConnection { connection in
            let allowed = try await connection.query(
                "SELECT has_function_privilege('c77_secure_db_fix_content_hash(text, text, text, text)', 'EXECUTE') AS allowed"
            ).first?.bool("allowed") ?? false
            guard allowed else {
                throw JobError("fix_mismatches: the daemon's role may not fix \(table): it needs c77_secure_db_admin")
            }
            var fixed = 0
            for mismatch in mismatches {
                try Task.checkCancellation()
                // NULL: the row changed again since this pass saw it; the next pass reports it.
                let hash = try await connection.query(
                    "SELECT c77_secure_db_fix_content_hash($1, $2, $3, $4) AS hash",
                    [.text(table.schema), .text(table.table), .text(mismatch.primaryKeyValue),
                     mismatch.storedHash.map(PostgresValue.text) ?? .null]
                ).first?.optionalString("hash")
                if hash != nil { fixed += 1 }
            }
            return fixed
        }
        await context.alerts.raise(Alert(
            type: .hashesRecomputed, severity: .warning,
            summary: "Recomputed \(fixed) content hash(es) of \(table) (fix_mismatches = true)",
            job: name, database: context.database.reachability.database, schema: table.schema, table: table.table,
            details: ["fixed_count": .number(Double(fixed))]
        ))
        return fixed
    }
}
