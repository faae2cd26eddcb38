import ControlSocket
import Foundation
import Testing

/// `[job.audit_chain]` against a real cluster: it seals the audit into the extension's hash
/// chain and catches a superuser who rewrites, recomputes or truncates it.
@Suite(.serialized) struct AuditChainJobTests {
    /// Writes `count` rows through the write path (one audit row each).
    func write(_ harness: DaemonHarness, _ count: Int) throws {
        try harness.sql("""
            SELECT c77_secure_db_operation(jsonb_build_object('schema_name', 'shop', 'table_name', 'orders', 'operation', 'insert',
                'data', jsonb_build_object('customer', 'C' || i, 'amount', i))) FROM generate_series(1, \(count)) i;
            """)
    }

    func start(_ harness: DaemonHarness, fullVerification: String) throws -> JournalRecorder {
        try harness.writeConfig(harness.config("""
            [job.audit_chain]
            interval = 1h
            batch_size = 7
            full_verification_interval = \(fullVerification)

            [job.table_digest]
            enabled = false
            """))
        try harness.start()
        // The run at start-up first, so that each `runAndWait` is a run of its own.
        _ = try harness.waitForRun("audit_chain", after: 0)
        return JournalRecorder(harness.journal)
    }

    func tampering(_ journal: JournalRecorder, since mark: Int) throws -> [[String: String]] {
        try journal.sync()
        return journal.alerts(since: mark).filter { $0["C77_ALERT_TYPE"] == "DATA_TAMPERING" && $0["C77_JOB"] == "audit_chain" }
    }

    @Test func itSealsTheAuditAndRemembersTheHead() throws {
        let harness = try DaemonHarness()
        try write(harness, 20)
        let journal = try start(harness, fullVerification: "1d")
        defer { harness.stop(); journal.stop() }
        let run = try harness.runAndWait("audit_chain")
        #expect(try harness.sql("SELECT count(*) FROM c77_secure_db_operation_audit WHERE seal_seq IS NULL") == "0",
                "every committed row is sealed, in batches of 7: \(run)")
        let head = try harness.sql("SELECT seal_seq || ':' || chain_digest FROM c77_secure_db_operation_audit ORDER BY seal_seq DESC LIMIT 1")
        let state = try JSONDecoder().decode(JSONValue.self, from: Data(contentsOf: URL(fileURLWithPath: harness.stateDirectory + "/audit-chain.json")))
        #expect("\(state["head"]?["seq"]?.intValue ?? -1):\(state["head"]?["digest"]?.stringValue ?? "")" == head,
                "the head is kept outside the database")
        #expect(run["figures"]?["findings"]?.intValue == 0, "\(run)")
        #expect(run["figures"]?["unsealed"]?.intValue == 0, "\(run)")

        // Legitimate operations between runs raise nothing.
        let mark = journal.mark
        try write(harness, 5)
        let next = try harness.runAndWait("audit_chain")
        #expect(next["figures"]?["sealed"]?.intValue ?? 0 >= 5, "\(next)")
        #expect(try tampering(journal, since: mark).isEmpty)

        // A damaged memory of the head is itself an alert.
        try "{not json".write(toFile: harness.stateDirectory + "/audit-chain.json", atomically: true, encoding: .utf8)
        _ = try harness.runAndWait("audit_chain")
        #expect(try tampering(journal, since: mark).contains { $0["MESSAGE"]?.contains("is unreadable") == true })
    }

    @Test func theSignedDigestLogExportsVerifiesAndCatchesARollback() throws {
        let harness = try DaemonHarness()
        try write(harness, 3)
        let journal = try start(harness, fullVerification: "1d")
        defer { harness.stop(); journal.stop() }
        _ = try harness.runAndWait("audit_chain")
        try write(harness, 3)
        _ = try harness.runAndWait("audit_chain")

        let exported = harness.stateDirectory + "/../digests-export.json"
        let export = try DaemonHarness.run(DaemonHarness.ctlPath, ["digest", "export", "--socket", harness.socketPath, "--output", exported])
        #expect(export.status == 0, "\(export.output)")
        #expect(export.output.contains("Exported 2 digest entries"), "\(export.output)")
        let verify = try DaemonHarness.run(DaemonHarness.ctlPath, ["digest", "verify", exported])
        #expect(verify.status == 0, "\(verify.output)")
        #expect(verify.output.contains("Intact: 2 entries"), "\(verify.output)")
        let head = try harness.sql("SELECT max(seal_seq) FROM c77_secure_db_operation_audit")
        #expect(verify.output.contains("audit chain head \(head) "), "\(verify.output)")
        #expect(try harness.sql("SELECT entry_seq FROM c77_secure_db_digest_head") == "2", "the database keeps the latest entry")

        // Anyone can check the export; nobody without the key can change it unnoticed.
        let text = try String(contentsOfFile: exported, encoding: .utf8)
        try text.replacingOccurrences(of: "\"audit_head_seq\" : \(head)", with: "\"audit_head_seq\" : 999")
            .write(toFile: exported, atomically: true, encoding: .utf8)
        let forged = try DaemonHarness.run(DaemonHarness.ctlPath, ["digest", "verify", exported])
        #expect(forged.status == 1, "\(forged.output)")
        #expect(forged.output.contains("entry 2: the signature does not verify"), "\(forged.output)")

        // The log rolled back to its first entry, and the database's copy removed too: the
        // daemon's memory of what it wrote catches it.
        let mark = journal.mark
        let log = harness.stateDirectory + "/digests.jsonl"
        let first = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n")[0]
        try (first + "\n").write(toFile: log, atomically: true, encoding: .utf8)
        try harness.sql("DELETE FROM c77_secure_db_digest_head")
        _ = try harness.runAndWait("audit_chain")
        #expect(try tampering(journal, since: mark).contains { $0["MESSAGE"]?.contains("which this daemon wrote, is missing") == true })

        // After a restart (no memory), rolled back once more: the database's copy catches it.
        harness.stop()
        try (first + "\n").write(toFile: log, atomically: true, encoding: .utf8)
        let restartMark = journal.mark
        try harness.start()
        _ = try harness.runAndWait("audit_chain")
        #expect(try tampering(journal, since: restartMark).contains { $0["MESSAGE"]?.contains("recorded in the database, is missing") == true })
    }

    @Test func aRewrittenAuditRowIsCaught() throws {
        let harness = try DaemonHarness()
        try write(harness, 10)
        let journal = try start(harness, fullVerification: "1s")
        defer { harness.stop(); journal.stop() }
        _ = try harness.runAndWait("audit_chain")
        let mark = journal.mark
        try harness.sql("UPDATE c77_secure_db_operation_audit SET success = false, user_name = 'nobody' WHERE seal_seq = 4")
        Thread.sleep(forTimeInterval: 1.1)  // past full_verification_interval
        _ = try harness.runAndWait("audit_chain")
        let alerts = try tampering(journal, since: mark)
        #expect(alerts.count == 1, "\(alerts)")
        #expect(alerts.first?["MESSAGE"]?.contains("content changed at position 4") == true, "\(alerts)")
        #expect(alerts.first?["PRIORITY"] == "2", "critical")
    }

    @Test func anAuditRowInsertedIntoTheChainIsCaught() throws {
        let harness = try DaemonHarness()
        try write(harness, 5)
        let journal = try start(harness, fullVerification: "1d")
        defer { harness.stop(); journal.stop() }
        _ = try harness.runAndWait("audit_chain")
        let mark = journal.mark
        // A superuser appends a row that claims to be sealed, with made-up digests.
        try harness.sql("""
            INSERT INTO c77_secure_db_operation_audit (operation_id, schema_name, table_name, operation_type, record_id, success,
                                                       seal_seq, row_digest, chain_digest)
            SELECT gen_random_uuid(), 'shop', 'orders', 'delete', '1', true, max(seal_seq) + 1, repeat('0', 64), repeat('0', 64)
            FROM c77_secure_db_operation_audit
            """)
        let position = try harness.sql("SELECT max(seal_seq) FROM c77_secure_db_operation_audit")
        _ = try harness.runAndWait("audit_chain")
        let alerts = try tampering(journal, since: mark)
        #expect(alerts.contains { $0["MESSAGE"]?.contains("at position \(position)") == true }, "\(alerts)")
    }

    @Test func aRecomputedChainAndATruncatedChainAreCaught() throws {
        let harness = try DaemonHarness()
        try write(harness, 10)
        let journal = try start(harness, fullVerification: "1d")
        defer { harness.stop(); journal.stop() }
        _ = try harness.runAndWait("audit_chain")

        // A superuser rewrites row 3 and recomputes every digest after it: the chain is
        // consistent again, but no longer the one the daemon saw.
        var mark = journal.mark
        try harness.sql("""
            SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD';
            UPDATE c77_secure_db_operation_audit SET user_name = 'nobody' WHERE seal_seq = 3;
            DO $$ DECLARE r record; previous text; BEGIN
              SELECT chain_digest INTO previous FROM c77_secure_db_operation_audit WHERE seal_seq = 2;
              FOR r IN SELECT id FROM c77_secure_db_operation_audit WHERE seal_seq >= 3 ORDER BY seal_seq LOOP
                UPDATE c77_secure_db_operation_audit AS a SET row_digest = c77_secure_db_audit_row_digest(a),
                       chain_digest = c77_secure_db_audit_chain_step(previous, c77_secure_db_audit_row_digest(a))
                WHERE a.id = r.id RETURNING a.chain_digest INTO previous;
              END LOOP; END $$;
            """)
        #expect(try harness.sql("SELECT c77_secure_db_verify_audit_chain() ->> 'valid'") == "true", "consistent in itself")
        _ = try harness.runAndWait("audit_chain")
        var alerts = try tampering(journal, since: mark)
        #expect(alerts.contains { $0["MESSAGE"]?.contains("was rewritten") == true }, "\(alerts)")

        // Sealed rows removed from the end, where no later row shows a gap.
        mark = journal.mark
        let head = Int(try harness.sql("SELECT max(seal_seq) FROM c77_secure_db_operation_audit")) ?? 0
        try harness.sql("DELETE FROM c77_secure_db_operation_audit WHERE seal_seq > \(head - 2)")
        _ = try harness.runAndWait("audit_chain")
        alerts = try tampering(journal, since: mark)
        #expect(alerts.contains { $0["MESSAGE"]?.contains("shorter than when it was last seen") == true }, "\(alerts)")
    }

    @Test func aPurgeIsAcceptedAndAForgedAnchorIsCaught() throws {
        let harness = try DaemonHarness()
        try write(harness, 10)
        // Old enough for retention, backdated before they are sealed.
        try harness.sql("UPDATE c77_secure_db_operation_audit SET created_at = created_at - interval '2 hours'")
        let journal = try start(harness, fullVerification: "1d")
        defer { harness.stop(); journal.stop() }
        _ = try harness.runAndWait("audit_chain")

        // Retention through the purge function: its anchor is on record, nothing is raised.
        let mark = journal.mark
        let sealed = Int(try harness.sql("SELECT count(*) FROM c77_secure_db_operation_audit")) ?? 0
        #expect(try harness.sql("SELECT c77_secure_db_purge_audit(now() - interval '1 hour') ->> 'anchor_seq'") == "\(sealed)")
        try write(harness, 5)
        let run = try harness.runAndWait("audit_chain")
        #expect(try tampering(journal, since: mark).isEmpty, "\(run)")

        // A superuser deletes the start of the chain and forges an anchor where it now starts:
        // the chain verifies in itself, but no purge recorded that anchor.
        try harness.sql("""
            INSERT INTO c77_secure_db_audit_anchors (seal_seq, chain_digest, removed_rows)
            SELECT seal_seq, chain_digest, 3 FROM c77_secure_db_operation_audit WHERE seal_seq = \(sealed + 3);
            DELETE FROM c77_secure_db_operation_audit WHERE seal_seq <= \(sealed + 3);
            """)
        #expect(try harness.sql("SELECT c77_secure_db_verify_audit_chain() ->> 'valid'") == "true", "consistent in itself")
        _ = try harness.runAndWait("audit_chain")
        let alerts = try tampering(journal, since: mark)
        #expect(alerts.count == 1, "\(alerts)")
        #expect(alerts.first?["MESSAGE"]?.contains("Audit rows up to position \(sealed + 3) were removed outside c77_secure_db_purge_audit()") == true, "\(alerts)")
    }

    @Test func everyPurgeIsAnnouncedOnceNamingWhoPurged() throws {
        let harness = try DaemonHarness()
        try write(harness, 10)
        try harness.sql("UPDATE c77_secure_db_operation_audit SET created_at = created_at - interval '2 hours'")
        let journal = try start(harness, fullVerification: "1d")
        defer { harness.stop(); journal.stop() }
        _ = try harness.runAndWait("audit_chain")
        func purges(since mark: Int) throws -> [[String: String]] {
            try journal.sync()
            return journal.alerts(since: mark).filter { $0["C77_ALERT_TYPE"] == "AUDIT_PURGED" }
        }

        // Retention by an administrator: shown once, as a warning, naming the purger.
        var mark = journal.mark
        let sealed = Int(try harness.sql("SELECT count(*) FROM c77_secure_db_operation_audit")) ?? 0
        try harness.sql("""
            CREATE ROLE c77_dba LOGIN IN ROLE c77_secure_db_admin;
            SET SESSION AUTHORIZATION c77_dba;
            SELECT c77_secure_db_purge_audit(now() - interval '1 hour');
            """)
        _ = try harness.runAndWait("audit_chain")
        var alerts = try purges(since: mark)
        #expect(alerts.count == 1, "\(alerts)")
        let alert = try #require(alerts.first)
        #expect(alert["C77_SEVERITY"] == "warning")
        #expect(alert["PRIORITY"] == "4")
        #expect(alert["MESSAGE"]?.hasPrefix("AUDIT_PURGED: Audit prefix up to position \(sealed) purged by c77_dba at 20") == true, "\(alert)")
        #expect(alert["MESSAGE"]?.hasSuffix("(\(sealed) rows)") == true, "\(alert)")
        #expect(alert.details?["purged_by"]?.stringValue == "c77_dba")
        #expect(alert.details?["up_to_seq"]?.intValue == sealed)
        #expect(try tampering(journal, since: mark).isEmpty)
        mark = journal.mark
        _ = try harness.runAndWait("audit_chain")
        #expect(try purges(since: mark).isEmpty, "once")

        // The forgery nothing can tell from a purge — prefix deleted, anchor forged, the purge's
        // audit row forged to match — is accepted, but shown like any purge, naming the forger.
        try write(harness, 5)
        _ = try harness.runAndWait("audit_chain")
        mark = journal.mark
        try harness.sql("""
            INSERT INTO c77_secure_db_audit_anchors (seal_seq, chain_digest, removed_rows)
            SELECT seal_seq, chain_digest, 3 FROM c77_secure_db_operation_audit WHERE seal_seq = \(sealed + 3);
            INSERT INTO c77_secure_db_operation_audit (operation_id, operation_type, success, details)
            SELECT gen_random_uuid(), 'purge_audit', true, jsonb_build_object('anchor_seq', seal_seq, 'anchor_digest', chain_digest)
            FROM c77_secure_db_audit_anchors ORDER BY seal_seq DESC LIMIT 1;
            DELETE FROM c77_secure_db_operation_audit WHERE seal_seq <= \(sealed + 3);
            """)
        _ = try harness.runAndWait("audit_chain")
        #expect(try tampering(journal, since: mark).isEmpty, "indistinguishable from a purge")
        alerts = try purges(since: mark)
        #expect(alerts.count == 1, "\(alerts)")
        #expect(alerts.first?["MESSAGE"]?.contains("Audit prefix up to position \(sealed + 3) purged by postgres at ") == true, "\(alerts)")
    }

    @Test func aShadowingFunctionOnTheMonitorsSearchPathIsNeverCalled() throws {
        let harness = try DaemonHarness()
        try write(harness, 3)
        // Whoever can create functions in a schema that the daemon's role searches first.
        try harness.sql("""
            CREATE SCHEMA trap;
            CREATE FUNCTION trap.c77_secure_db_seal_audit(integer) RETURNS jsonb LANGUAGE sql
                AS $$ SELECT '{"success": true, "sealed": 0, "head_seq": 0, "head_digest": "forged"}'::jsonb $$;
            GRANT USAGE ON SCHEMA trap TO \(harness.monitorRole);
            ALTER ROLE \(harness.monitorRole) SET search_path = trap, public;
            """)
        let journal = try start(harness, fullVerification: "1d")
        defer { harness.stop(); journal.stop() }
        let run = try harness.runAndWait("audit_chain")
        #expect(try harness.sql("SELECT count(*) FROM c77_secure_db_operation_audit WHERE seal_seq IS NULL") == "0",
                "the extension's own function sealed the rows: \(run)")
        #expect("\(run["figures"]?["head_seq"]?.intValue ?? -1)" == (try harness.sql("SELECT count(*) FROM c77_secure_db_operation_audit")), "\(run)")
    }
}
