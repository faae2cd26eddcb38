import ControlSocket
import FoundationEssentials
import MonitorConfig
import Postgres

/// One table's part of a `table_digest` run: compares the table with the digests recorded
/// last pass, drills into the buckets that differ, and alerts on every row change no audited
/// operation explains. The first pass over a table (or one after its state was found
/// damaged) records the table as it is, without alerts.
struct TableDigestPass: Sendable {
    let job: String
    let target: SecureTableTarget
    let context: JobContext
    let store: TableDigestStore
    let bucketRows: Int
    let floodThreshold: Int

    /// Buckets per `c77_secure_db_bucket_digests()` statement: short statements, and progress.
    static let bucketsPerStatement = 20

    /// What the pass found and the state to keep.
    struct Outcome: Sendable {
        var state: TableDigestState
        var rows = 0
        var changedBuckets = 0
        /// Unexplained row changes, and damaged state.
        var findings = 0
        var baseline = false
    }

    /// A table the extension cannot digest (e.g. no single-column primary key).
    struct Undigestible: Error {
        var reason: String
    }

    var table: SecureTable { target.table }

    /// Runs the pass. `auditSeq` is the audit chain head when the run began; `signedRoot` the
    /// table's root in the signed digest log's latest entry.
    func run(auditSeq: Int, signedRoot: String?) async throws -> Outcome {
        var findings = 0
        guard let prior = try await trustedState(signedRoot: signedRoot, findings: &findings) else {
            var outcome = try await baseline(auditSeq: auditSeq)
            outcome.findings = findings
            return outcome
        }
        var outcome = Outcome(state: TableDigestState(table: table, auditSeq: auditSeq, buckets: []))
        var changes: [RowChange] = []
        let started = ContinuousClock.now
        var index = 0
        while index < prior.buckets.count {
            try Task.checkCancellation()
            let range = index..<min(index + Self.bucketsPerStatement, prior.buckets.count)
            let current = try await bucketDigests(prior.bounds(range))
            for (bucketIndex, now) in zip(range, current) {
                let recorded = prior.buckets[bucketIndex]
                outcome.rows += now.count
                if now.count == recorded.count, now.digest == recorded.digest {
                    outcome.state.buckets.append(recorded)
                    continue
                }
                outcome.changedBuckets += 1
                let fresh = try await leaves(after: bucketIndex == 0 ? nil : prior.buckets[bucketIndex - 1].until, until: recorded.until)
                do {
                    changes += RowChange.between(try store.leaves(of: recorded), fresh)
                } catch let damaged as TableDigestStore.Damaged {
                    // Nothing to compare these rows with: they become the new record.
                    findings += 1
                    await raiseDamagedState(kind: "bucket", "have a damaged bucket (\(damaged))")
                }
                outcome.state.buckets += try buckets(of: fresh, until: recorded.until)
            }
            index = range.upperBound
            reportProgress(rows: outcome.rows, since: started)
        }
        let unexplained = try await unexplained(changes, since: prior.auditSeq)
        await raise(unexplained)
        outcome.findings = findings + unexplained.count
        return outcome
    }

    /// The saved state (a save a crash interrupted settled first), if it is the one the signed
    /// digest log vouches for. Anything else is a finding (someone changed or removed what the daemon recorded) and nil: start over.
    private func trustedState(signedRoot: String?, findings: inout Int) async throws -> TableDigestState? {
        let problem: (kind: String, text: String)
        do {
            try store.settle(table, signedRoot: signedRoot)
            switch (try store.load(table), signedRoot) {
            case (nil, nil):
                return nil
            case (nil, _?):
                problem = ("missing", "are missing, though the signed digest log has their root")
            case (_?, nil):
                problem = ("unsigned", "have no root in the signed digest log")
            case (let state?, let root?):
                if state.root == root { return state }
                problem = ("differs", "differ from the root in the signed digest log")
            }
        } catch {
            problem = ("unreadable", "are unreadable (\(error))")
        }
        findings += 1
        await raiseDamagedState(kind: problem.kind, problem.text)
        return nil
    }

    /// The first pass: the table as it is now, in buckets of `bucket_rows` rows.
    private func baseline(auditSeq: Int) async throws -> Outcome {
        var outcome = Outcome(state: TableDigestState(table: table, auditSeq: auditSeq, buckets: []), baseline: true)
        let started = ContinuousClock.now
        var after: String?
        while true {
            try Task.checkCancellation()
            let page = try await rowPage(after: after, until: nil, maxRows: bucketRows)
            outcome.rows += page.leaves.count
            outcome.state.buckets += try buckets(of: page.leaves, until: page.done ? nil : page.leaves.last?.key)
            reportProgress(rows: outcome.rows, since: started)
            if page.done { return outcome }
            after = page.leaves.last?.key
        }
    }

    /// `leaves` (one key range in key order, up to `until`) as one bucket, or, when they are
    /// more than twice `bucket_rows` (rows added since), as buckets of `bucket_rows`; their
    /// leaves are written to the store.
    private func buckets(of leaves: [RowLeaf], until: String?) throws -> [DigestBucket] {
        var chunks: [ArraySlice<RowLeaf>] = [leaves[...]]
        if leaves.count > 2 * bucketRows {
            chunks = stride(from: 0, to: leaves.count, by: bucketRows).map { leaves[$0..<min($0 + bucketRows, leaves.count)] }
        }
        return try chunks.enumerated().map { index, chunk in
            let rows = Array(chunk)
            return DigestBucket(until: index == chunks.count - 1 ? until : rows.last?.key, count: rows.count,
                                digest: DigestBucket.digest(of: rows), leaves: try store.writeLeaves(rows))
        }
    }

    // MARK: - The database

    private struct BucketDigestsAnswer: Decodable {
        struct Bucket: Decodable {
            var count: Int
            var digest: String
        }

        var success: Bool
        var error: String?
        var buckets: [Bucket]?
    }

    private struct RowDigestsAnswer: Decodable {
        var success: Bool
        var error: String?
        var keys: [String]?
        var rowDigests: [String]?
        var done: Bool?

        enum CodingKeys: String, CodingKey {
            case success, error, keys, done
            case rowDigests = "row_digests"
        }
    }

    /// The count and digest of each bucket between `bounds` (nil: open end).
    private func bucketDigests(_ bounds: [String?]) async throws -> [BucketDigestsAnswer.Bucket] {
        let text = try await context.database.withConnection { connection in
            try await connection.query("SELECT c77_secure_db_bucket_digests($1, $2, $3::text[])::text AS result",
                                       [.text(table.schema), .text(table.table), .text(Self.arrayLiteral(bounds))]).first?.string("result")
        }
        let answer = try JSONDecoder().decode(BucketDigestsAnswer.self, from: Data((text ?? "{}").utf8))
        guard answer.success, let buckets = answer.buckets, buckets.count == bounds.count - 1 else {
            throw Undigestible(reason: answer.error ?? "c77_secure_db_bucket_digests gave no answer")
        }
        return buckets
    }

    /// Up to `maxRows` rows after `after` up to `until`, and whether the range ends there.
    private func rowPage(after: String?, until: String?, maxRows: Int) async throws -> (leaves: [RowLeaf], done: Bool) {
        let text = try await context.database.withConnection { connection in
            try await connection.query(
                "SELECT c77_secure_db_row_digests($1, $2, $3, $4, $5)::text AS result",
                [.text(table.schema), .text(table.table), after.map(PostgresValue.text) ?? .null,
                 until.map(PostgresValue.text) ?? .null, .text(String(maxRows))]
            ).first?.string("result")
        }
        let answer = try JSONDecoder().decode(RowDigestsAnswer.self, from: Data((text ?? "{}").utf8))
        guard answer.success, let keys = answer.keys, let digests = answer.rowDigests, keys.count == digests.count else {
            throw Undigestible(reason: answer.error ?? "c77_secure_db_row_digests gave no answer")
        }
        return (zip(keys, digests).map { RowLeaf(key: $0, digest: $1) }, answer.done ?? true)
    }

    /// Every row after `after` up to `until`, in pages of `bucket_rows`.
    private func leaves(after: String?, until: String?) async throws -> [RowLeaf] {
        var leaves: [RowLeaf] = []
        var from = after
        while true {
            let page = try await rowPage(after: from, until: until, maxRows: bucketRows)
            leaves += page.leaves
            if page.done { return leaves }
            from = page.leaves.last?.key
        }
    }

    private struct ExplainingOperationsAnswer: Decodable {
        struct Row: Decodable {
            var key: String
            var operations: [String]
        }

        var success: Bool
        var error: String?
        var operations: [Row]?
        var rehashed: Bool?
    }

    /// The changes no successful audited operation since the last pass explains: one sealed
    /// after the audit head the last pass began at, or not sealed yet. (A change the last pass
    /// did not see was committed after that head was read, and so was its audit row.) The
    /// extension matches the audit's record_ids with the keys as values of the key's type
    /// (`c77_secure_db_explaining_operations()`): as text they differ for timestamps, char(n)
    /// and numbers.
    private func unexplained(_ changes: [RowChange], since auditSeq: Int) async throws -> [RowChange] {
        guard !changes.isEmpty else { return [] }
        // Keys byte for byte (see RowChange.between), each once.
        var seen = Set<[UInt8]>()
        let keys = changes.map(\.key).filter { seen.insert(Array($0.utf8)).inserted }
        let text = try await context.database.withConnection { connection in
            try await connection.query(
                "SELECT c77_secure_db_explaining_operations($1, $2, $3::text[], $4::bigint)::text AS result",
                [.text(table.schema), .text(table.table), .text(Self.arrayLiteral(keys)), .text(String(auditSeq))]
            ).first?.string("result")
        }
        let answer = try JSONDecoder().decode(ExplainingOperationsAnswer.self, from: Data((text ?? "{}").utf8))
        guard answer.success, let rows = answer.operations else {
            throw Undigestible(reason: answer.error ?? "c77_secure_db_explaining_operations gave no answer")
        }
        let operations = Dictionary(rows.map { (Array($0.key.utf8), Set($0.operations)) }, uniquingKeysWith: { $0.union($1) })
        let rehashed = answer.rehashed ?? false
        return changes.filter { !$0.isExplained(by: operations[Array($0.key.utf8)] ?? [], tableRehashed: rehashed) }
    }

    // MARK: - Alerts and progress

    /// One critical alert per unexplained change up to the flood threshold, then one summary.
    private func raise(_ changes: [RowChange]) async {
        for change in changes.prefix(floodThreshold) {
            var details: [String: JSONValue] = ["change": .string(change.kind.rawValue)]
            details["previous_row_digest"] = change.before.map(JSONValue.string) ?? .null
            details["row_digest"] = change.after.map(JSONValue.string) ?? .null
            await context.alerts.raise(Alert(
                type: .dataTampering, severity: .critical,
                summary: "Row \(change.key) of \(table) \(change.kind.rawValue) without an audited operation",
                job: job, database: context.database.reachability.database,
                schema: table.schema, table: table.table, recordID: change.key, details: details,
                fingerprint: "table_digest:\(table):\(change.key):\(change.kind.rawValue):\(change.after ?? "")"
            ))
        }
        guard changes.count > floodThreshold else { return }
        let counts = Dictionary(grouping: changes, by: \.kind.rawValue).mapValues { JSONValue.number(Double($0.count)) }
        await context.alerts.raise(Alert(
            type: .dataTampering, severity: .critical,
            summary: "\(changes.count) rows of \(table) changed, vanished or appeared without an audited operation (first \(floodThreshold) alerted on one by one)",
            job: job, database: context.database.reachability.database, schema: table.schema, table: table.table,
            details: ["unexplained_count": .number(Double(changes.count)), "by_change": .object(counts),
                      "first_keys": .array(changes.prefix(floodThreshold).map { .string($0.key) }),
                      "individual_alerts": .number(Double(floodThreshold))],
            fingerprint: "table_digest:\(table):summary"
        ))
    }

    /// A finding about the kept state; `kind` goes into the fingerprint, so each kind of damage
    /// is its own alert.
    private func raiseDamagedState(kind: String, _ problem: String) async {
        await context.alerts.raise(Alert(
            type: .dataTampering, severity: .critical,
            summary: "The table digests of \(table) kept in \(store.directory) \(problem); starting over from the table as it is now",
            job: job, database: context.database.reachability.database, schema: table.schema, table: table.table,
            details: ["problem": .string(problem)], fingerprint: "table_digest_state:\(table):\(kind)"
        ))
    }

    private func reportProgress(rows: Int, since started: ContinuousClock.Instant) {
        let elapsed = (ContinuousClock.now - started).timeInterval
        let rate = elapsed > 0 ? Double(rows) / elapsed : nil
        var eta: Int?
        if let rate, rate > 0, let total = target.estimatedRows, total > rows { eta = Int(Double(total - rows) / rate) }
        context.progress.report(JobProgress(current: table.description, rowsDone: rows,
                                            rowsTotal: target.estimatedRows.map { max($0, rows) }, rowsPerSecond: rate, etaSeconds: eta))
    }

    /// A PostgreSQL array literal of `values`, every element quoted, nil as NULL.
    static func arrayLiteral(_ values: [String?]) -> String {
        let elements = values.map { value in
            value.map { "\"" + $0.replacing("\\", with: "\\\\").replacing("\"", with: "\\\"") + "\"" } ?? "NULL"
        }
        return "{" + elements.joined(separator: ",") + "}"
    }
}
