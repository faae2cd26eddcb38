import ControlSocket
import DigestLog
import EssentialsSupport
import FoundationEssentials
import Postgres

/// Keeps the extension's audit hash chain (extension 2.1) sealed and checks it
/// (`[job.audit_chain]`).
///
/// Each run seals the committed audit rows that wait (`c77_secure_db_seal_audit()`, in batches
/// of `batch_size`), then verifies the part of the chain sealed since the last run
/// (`c77_secure_db_verify_audit_chain()`), and the whole chain every
/// `full_verification_interval`. The head it saw last — position and chain digest — is kept
/// outside the database in `<state_directory>/audit-chain.json` and compared on every run:
/// a chain that got shorter, or whose digest at that position changed (history rewritten and
/// the chain recomputed), is tampering even if the chain is consistent in itself.
///
/// Each new head is also appended to the signed digest log (``DigestLog``), whose latest entry
/// the database keeps too (`c77_secure_db_record_digest_head()`), and the daemon in memory: a
/// log that was edited, truncated or rolled back is caught by its signatures and links, or
/// against the database or the daemon's memory.
///
/// Every finding is a critical `DATA_TAMPERING` alert naming the positions and rows.
public struct AuditChainJob: MonitorJob {
    public let name = "audit_chain"
    public var batchSize: Int
    public var fullVerificationInterval: Duration

    public init(batchSize: Int, fullVerificationInterval: Duration) {
        self.batchSize = batchSize
        self.fullVerificationInterval = fullVerificationInterval
    }

    public func run(in context: JobContext) async throws -> JobReport {
        let store = AuditChainStateStore(stateDirectory: context.stateDirectory)
        let supported = try await context.database.withConnection { connection in
            try await connection.query(
                "SELECT to_regprocedure('c77_secure_db_seal_audit(integer)') IS NOT NULL AS supported"
            ).first?.bool("supported")
        } ?? false
        guard supported else {
            return JobReport(summary: "the extension has no audit chain (before 2.1): ALTER EXTENSION c77_secure_db UPDATE",
                             figures: ["supported": .bool(false)])
        }

        var sealed = 0
        var seal: JSONValue = [:]
        repeat {
            try Task.checkCancellation()
            seal = try await call(context, "SELECT c77_secure_db_seal_audit($1::int)::text AS result", [.text(String(batchSize))])
            sealed += seal["sealed"]?.intValue ?? 0
            context.progress.report(JobProgress(current: "c77_secure_db_operation_audit", rowsDone: sealed,
                                                rowsTotal: nil, rowsPerSecond: nil, etaSeconds: nil))
        } while (seal["sealed"]?.intValue ?? 0) >= batchSize
        let headSeq = seal["head_seq"]?.intValue ?? 0
        let headDigest = seal["head_digest"]?.stringValue ?? ""

        var findings = 0
        var state = AuditChainState()
        do {
            state = try store.load()
        } catch {
            // Whoever can corrupt the daemon's memory of the head could hide a rewrite behind it.
            findings += 1
            await context.alerts.raise(Alert(
                type: .dataTampering, severity: .critical,
                summary: "The audit chain head kept in \(store.path) is unreadable; starting over from the chain as it is now",
                job: name, database: context.database.reachability.database, table: "c77_secure_db_operation_audit",
                details: ["error": .string("\(error)")], fingerprint: "audit_chain_state"
            ))
        }
        if let known = state.head {
            findings += try await compare(known: known, headSeq: headSeq, context: context)
        }
        let anchor = try await newestAnchor(context)
        if anchor != state.anchor, let anchor {
            findings += try await checkPurged(anchor: anchor, context: context)
            try await announcePurges(after: state.anchor, context: context)
        }
        state.anchor = anchor
        let full = state.lastFullVerification.map { Date().timeIntervalSince($0) >= fullVerificationInterval.timeInterval } ?? true
        let from = full ? nil : state.head.map { $0.seq &+ 1 }
        let verification = try await call(context, "SELECT c77_secure_db_verify_audit_chain($1::bigint)::text AS result",
                                          [from.map { .text(String($0)) } ?? .null])
        let breaks = verification["breaks"]?.arrayValue ?? []
        for finding in breaks {
            findings += 1
            let seq = finding["seal_seq"]?.intValue ?? 0
            let reason = finding["reason"]?.stringValue ?? "broken"
            await context.alerts.raise(Alert(
                type: .dataTampering, severity: .critical,
                summary: "Audit chain \(reason) at position \(seq) (audit row \(finding["id"]?.intValue.map(String.init) ?? "?"))",
                job: name, database: context.database.reachability.database,
                schema: nil, table: "c77_secure_db_operation_audit", recordID: finding["id"]?.intValue.map(String.init),
                details: ["seal_seq": .number(Double(seq)), "reason": .string(reason)],
                fingerprint: "audit_chain:\(seq):\(reason)"
            ))
        }

        findings += try await recordDigest(headSeq: headSeq, headDigest: headDigest, full: full, context: context)

        state.head = .init(seq: headSeq, digest: headDigest)
        if full { state.lastFullVerification = Date() }
        try store.save(state)
        let checked = verification["checked"]?.intValue ?? 0
        return JobReport(
            summary: "sealed \(sealed) audit row(s); chain head \(headSeq); verified \(checked)\(full ? " (full)" : ""); \(findings) finding(s)",
            figures: [
                "sealed": .number(Double(sealed)), "head_seq": .number(Double(headSeq)),
                "unsealed": .number(Double(seal["unsealed"]?.intValue ?? 0)), "verified": .number(Double(checked)),
                "full": .bool(full), "findings": .number(Double(findings)),
            ]
        )
    }

    /// Compares the head seen last with the chain now: it must still be there, with the same
    /// digest (or have been purged through the purge function, which leaves an anchor).
    private func compare(known: AuditChainState.Head, headSeq: Int, context: JobContext) async throws -> Int {
        let row = try await context.database.withConnection { connection in
            try await connection.query("""
                SELECT (SELECT chain_digest FROM c77_secure_db_operation_audit WHERE seal_seq = $1::bigint) AS digest,
                       (SELECT max(seal_seq) FROM c77_secure_db_audit_anchors) AS anchor_seq,
                       (SELECT chain_digest FROM c77_secure_db_audit_anchors WHERE seal_seq = $1::bigint) AS anchor_digest
                """, [.text(String(known.seq))]).first
        }
        let digest = try row?.optionalString("digest") ?? row?.optionalString("anchor_digest")
        let anchorSeq = try row?.optionalString("anchor_seq").flatMap(Int.init)
        let problem: (kind: String, text: String)
        if headSeq < known.seq {
            problem = ("shortened", "the audit chain is shorter than when it was last seen (head \(headSeq), was \(known.seq)): sealed rows were removed")
        } else if let digest, digest != known.digest {
            problem = ("rewritten", "the audit chain was rewritten: the chain digest at position \(known.seq) changed since it was last seen")
        } else if digest == nil, (anchorSeq ?? 0) < known.seq, known.seq > 0 {
            problem = ("removed", "the audit row at position \(known.seq), seen last time, is gone without a purge anchor")
        } else {
            return 0
        }
        await context.alerts.raise(Alert(
            type: .dataTampering, severity: .critical, summary: problem.text,
            job: name, database: context.database.reachability.database, table: "c77_secure_db_operation_audit",
            details: ["known_seq": .number(Double(known.seq)), "known_digest": .string(known.digest),
                      "head_seq": .number(Double(headSeq))],
            fingerprint: "audit_chain_head:\(known.seq):\(problem.kind)"
        ))
        return 1
    }

    /// The newest purge anchor, where the chain now starts; nil before any purge.
    private func newestAnchor(_ context: JobContext) async throws -> AuditChainState.Head? {
        let row = try await context.database.withConnection { connection in
            try await connection.query(
                "SELECT seal_seq, chain_digest FROM c77_secure_db_audit_anchors ORDER BY seal_seq DESC LIMIT 1"
            ).first
        }
        guard let row, let seq = Int(try row.string("seal_seq")) else { return nil }
        return .init(seq: seq, digest: try row.string("chain_digest"))
    }

    /// A new anchor must be one that `c77_secure_db_purge_audit()` recorded: its own audit row,
    /// after the anchor in the chain (or not sealed yet, when the purge committed after this
    /// run sealed: the next run seals it), names it. Otherwise sealed rows were deleted and an
    /// anchor was forged so that the rest of the chain verifies from there. Returns the number
    /// of findings.
    private func checkPurged(anchor: AuditChainState.Head, context: JobContext) async throws -> Int {
        let recorded = try await context.database.withConnection { connection in
            try await connection.query("""
                SELECT EXISTS (SELECT 1 FROM c77_secure_db_operation_audit
                               WHERE operation_type = 'purge_audit' AND success AND (seal_seq > $1::bigint OR seal_seq IS NULL)
                                 AND details ->> 'anchor_seq' = $1::bigint::text
                                 -- purges before 2.1's last change did not record the digest
                                 AND coalesce(details ->> 'anchor_digest', $2) = $2) AS recorded
                """, [.text(String(anchor.seq)), .text(anchor.digest)]).first?.bool("recorded")
        } ?? false
        guard !recorded else { return 0 }
        await context.alerts.raise(Alert(
            type: .dataTampering, severity: .critical,
            summary: "Audit rows up to position \(anchor.seq) were removed outside c77_secure_db_purge_audit(): no purge recorded the anchor the chain now starts from",
            job: name, database: context.database.reachability.database, table: "c77_secure_db_audit_anchors",
            details: ["anchor_seq": .number(Double(anchor.seq)), "anchor_digest": .string(anchor.digest)],
            fingerprint: "audit_chain_anchor:\(anchor.seq)"
        ))
        return 1
    }

    /// Raises one `AUDIT_PURGED` warning for the anchors recorded after `known` (the anchor
    /// seen last; nil: all of them): up to which position, by whom, when, how many rows. A
    /// superuser who forges an anchor and the purge's audit row alike cannot be told from a
    /// real purge, so every purge is made visible instead, as the anchors name it.
    private func announcePurges(after known: AuditChainState.Head?, context: JobContext) async throws {
        let row = try await context.database.withConnection { connection in
            try await connection.query("""
                SELECT count(*) AS purges, max(seal_seq) AS up_to_seq, sum(removed_rows) AS removed_rows,
                       string_agg(DISTINCT created_by, ', ') AS purged_by,
                       to_char(min(created_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS first_at,
                       to_char(max(created_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS last_at
                FROM c77_secure_db_audit_anchors WHERE seal_seq > $1::bigint
                """, [.text(String(known?.seq ?? 0))]).first
        }
        guard let row, let purges = Int(try row.string("purges")), purges > 0 else { return }
        let upTo = try row.string("up_to_seq"), removed = try row.string("removed_rows"), by = try row.string("purged_by")
        let firstAt = try row.string("first_at"), lastAt = try row.string("last_at")
        let when = purges == 1 ? "at \(lastAt)" : "in \(purges) purges from \(firstAt) to \(lastAt)"
        await context.alerts.raise(Alert(
            type: .auditPurged, severity: .warning,
            summary: "Audit prefix up to position \(upTo) purged by \(by) \(when) (\(removed) rows)",
            job: name, database: context.database.reachability.database, table: "c77_secure_db_operation_audit",
            details: ["up_to_seq": .number(Double(upTo) ?? 0), "previous_anchor_seq": known.map { .number(Double($0.seq)) } ?? .null,
                      "purges": .number(Double(purges)), "removed_rows": .number(Double(removed) ?? 0),
                      "purged_by": .string(by), "first_purged_at": .string(firstAt), "last_purged_at": .string(lastAt)],
            fingerprint: "audit_purged:\(upTo)"
        ))
    }

    /// Checks the digest log (signatures, links, and its last entry against the database's
    /// copy) and appends the head when it moved. Returns the number of findings.
    private func recordDigest(headSeq: Int, headDigest: String, full: Bool, context: JobContext) async throws -> Int {
        let log = DigestLog(stateDirectory: context.stateDirectory)
        // (kind, text): the kind is the alert's fingerprint, so a condition left in place is
        // one alert (repeated per repeat_interval), not a new one whenever entry numbers move.
        var problems: [(kind: String, text: String)] = []
        // The witnesses first, the log after: the table digest job may append meanwhile, and
        // an entry is in the log before either witness has it.
        let mark = context.memory.digest
        let recorded = try await context.database.withConnection { connection in
            try await connection.query("SELECT entry_seq, entry_link FROM c77_secure_db_digest_head").first
        }
        // The latest entries; all of the log is checked with the chain's full verification,
        // in between only what was appended since the last check.
        var entries: [DigestEntry] = []
        if FileManager.default.fileExists(atPath: log.keyPath) || FileManager.default.fileExists(atPath: log.path) {
            do {
                let check = try context.memory.checkDigestLog(log, full: full)
                entries = check.recent
                problems += check.problems.map { ("invalid", $0) }
            } catch {
                problems.append(("unreadable", "\(error)"))
            }
        }
        /// A witnessed entry: among the latest, or else read from its line.
        func entry(_ seq: Int) -> DigestEntry? {
            if let entry = entries.first(where: { $0.seq == seq }) { return entry }
            guard seq >= 1, seq < entries.first?.seq ?? 0 else { return nil }
            return (try? context.memory.readDigestLog { try log.entries(skipping: seq - 1, limit: 1) })?.entries.first { $0.seq == seq }
        }
        if let recorded, let seq = Int(try recorded.string("entry_seq")) {
            let link = try recorded.string("entry_link")
            if let entry = entry(seq) {
                if entry.link != link { problems.append(("database-differs", "entry \(seq) differs from the one recorded in the database")) }
            } else {
                problems.append(("database-missing", "entry \(seq), recorded in the database, is missing: the log was truncated or rolled back to entry \(entries.last?.seq ?? 0)"))
            }
        }
        if let mark {
            if let entry = entry(mark.seq) {
                if entry.link != mark.link { problems.append(("memory-differs", "entry \(mark.seq) differs from the one this daemon wrote")) }
            } else {
                problems.append(("memory-missing", "entry \(mark.seq), which this daemon wrote, is missing: the log was truncated or rolled back to entry \(entries.last?.seq ?? 0)"))
            }
        }
        for kind in Set(problems.map(\.kind)).sorted() {
            let texts = problems.filter { $0.kind == kind }.map(\.text)
            await context.alerts.raise(Alert(
                type: .dataTampering, severity: .critical,
                summary: "The digest log \(log.path) is not intact: \(texts.joined(separator: "; "))",
                job: name, database: context.database.reachability.database,
                details: ["problems": .array(texts.map(JSONValue.string))], fingerprint: "digest_log:\(kind)"
            ))
        }
        // A log that cannot be read or does not verify is left as it is, as evidence.
        guard !problems.contains(where: { $0.kind == "unreadable" || $0.kind == "invalid" }) else { return problems.count }
        let appended = try context.memory.appendToDigestLog {
            // Read again: the table digest job may have appended since (copying this head).
            let last = try log.lastEntry()
            guard last.map({ $0.auditHeadSeq != headSeq || $0.auditHeadDigest != headDigest }) ?? true else { return nil }
            return try log.append(auditHeadSeq: headSeq, auditHeadDigest: headDigest, after: last)
        }
        if let appended { try await context.recordDigestHead(appended) }
        return problems.count
    }

    /// Calls a function of the extension that answers JSON with `success`; an answer without
    /// success throws.
    private func call(_ context: JobContext, _ sql: String, _ parameters: [PostgresValue]) async throws -> JSONValue {
        let text = try await context.database.withConnection { connection in
            try await connection.query(sql, parameters).first?.string("result")
        }
        let result = try JSONDecoder().decode(JSONValue.self, from: Data((text ?? "{}").utf8))
        guard result["success"] == .bool(true) else {
            throw JobError("audit chain: \(result["error"]?.stringValue ?? text ?? "no answer")")
        }
        return result
    }
}

/// What the audit-chain job remembers between runs, outside the database.
struct AuditChainState: Sendable, Codable, Equatable {
    struct Head: Sendable, Codable, Equatable {
        var seq: Int
        var digest: String
    }

    var head: Head?
    /// The newest purge anchor seen (and checked).
    var anchor: Head?
    var lastFullVerification: Date?

    enum CodingKeys: String, CodingKey {
        case head, anchor
        case lastFullVerification = "last_full_verification"
    }
}

/// Reads and writes `<state_directory>/audit-chain.json` (atomically).
struct AuditChainStateStore: Sendable {
    let path: String

    init(stateDirectory: String) {
        path = stateDirectory + "/audit-chain.json"
    }

    /// The saved state; empty when there is none yet. Throws when the file exists but cannot
    /// be read.
    func load() throws -> AuditChainState {
        guard FileManager.default.fileExists(atPath: path) else { return AuditChainState() }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try decoder.decode(AuditChainState.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
    }

    func save(_ state: AuditChainState) throws {
        try FileManager.default.createDirectory(atPath: path.parentDirectory,
                                                withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        try writeAtomically(try encoder.encode(state), to: path)
    }
}
