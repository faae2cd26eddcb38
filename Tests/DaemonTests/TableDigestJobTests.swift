import ControlSocket
import Foundation
import Testing

/// `[job.table_digest]` against a real cluster: the digests it keeps outside the database
/// catch what a superuser does past the triggers — even with the content hash recomputed,
/// which hash verification cannot see — while writes through the write path raise nothing.
@Suite(.serialized) struct TableDigestJobTests {
    /// Writes `count` rows through the write path.
    func insert(_ harness: DaemonHarness, _ count: Int) throws {
        try harness.sql("""
            SELECT c77_secure_db_operation(jsonb_build_object('schema_name', 'shop', 'table_name', 'orders', 'operation', 'insert',
                'data', jsonb_build_object('customer', 'C' || i, 'amount', i))) FROM generate_series(1, \(count)) i;
            """)
    }

    /// One operation through the write path on a table of `shop` (naming its key column when
    /// it is not `id`); it must succeed.
    func operation(_ harness: DaemonHarness, _ operation: String, _ data: String, table: String = "orders", key: String = "id") throws {
        let answer = try harness.sql("""
            SELECT c77_secure_db_operation(jsonb_build_object('schema_name', 'shop', 'table_name', '\(table)', 'primary_key', '\(key)',
                'operation', '\(operation)', 'data', '\(data)'::jsonb)) ->> 'success'
            """)
        #expect(answer == "true", "\(operation) \(table) \(data)")
    }

    /// Starts the daemon with the table digest job and waits until its start-up runs are done
    /// and a pass has recorded the table with every audit row sealed: from here on, only what
    /// the test does between passes counts.
    func start(_ harness: DaemonHarness, floodThreshold: Int = 10) throws -> JournalRecorder {
        try harness.writeConfig(harness.config("""
            [job.table_digest]
            interval = 1h
            bucket_rows = 4
            alert_flood_threshold = \(floodThreshold)
            """))
        try harness.start()
        let journal = JournalRecorder(harness.journal)
        _ = try harness.waitForRun("table_digest", after: 0)
        _ = try harness.waitForRun("audit_chain", after: 0)
        _ = try harness.runAndWait("audit_chain")
        _ = try harness.runAndWait("table_digest")
        return journal
    }

    /// The DATA_TAMPERING alerts of any job since `mark`.
    func tampering(_ journal: JournalRecorder, since mark: Int) throws -> [[String: String]] {
        try journal.sync()
        return journal.alerts(since: mark).filter { $0["C77_ALERT_TYPE"] == "DATA_TAMPERING" }
    }

    /// Asserts that the attack passes content-hash verification: only the digests can catch it.
    func expectHashesVerify(_ harness: DaemonHarness) throws {
        let verification = try harness.sql("""
            SELECT (r -> 'mismatches')::text || ' ' || (r ->> 'unhashed') FROM c77_secure_db_verify_range('shop', 'orders', NULL, 100000) AS r
            """)
        #expect(verification == "[] 0", "the attack leaves every content hash valid")
    }

    @Test func legitimateWritesBetweenPassesRaiseNothing() throws {
        let harness = try DaemonHarness()
        try insert(harness, 30)
        let journal = try start(harness)
        defer { harness.stop(); journal.stop() }
        let mark = journal.mark
        let baseline = try #require(harness.lastRun("table_digest"))
        #expect(baseline["figures"]?["rows"]?.intValue == 30, "\(baseline)")
        #expect(baseline["figures"]?["buckets"]?.intValue == 8, "30 rows in buckets of 4: \(baseline)")
        #expect(baseline["figures"]?["changed_buckets"]?.intValue == 0, "\(baseline)")
        let directory = harness.stateDirectory + "/table-digests"
        let mode = try FileManager.default.attributesOfItem(atPath: directory)[.posixPermissions] as? NSNumber
        #expect(mode?.intValue == 0o700)

        // Every kind of write, not sealed yet when the next pass runs.
        try insert(harness, 2)
        try operation(harness, "update", #"{"id": 3, "amount": 33}"#)
        try operation(harness, "upsert", #"{"id": 9, "customer": "C9b"}"#)
        try operation(harness, "soft_delete", #"{"id": 5}"#)
        try operation(harness, "delete", #"{"id": 7}"#)
        var run = try harness.runAndWait("table_digest")
        #expect(run["figures"]?["findings"]?.intValue == 0, "\(run)")
        #expect(run["figures"]?["changed_buckets"]?.intValue == 4, "buckets of 3, 5 and 7, 9, and the last: \(run)")

        // Sealed before the next pass; and many rows into the last bucket, which splits.
        try operation(harness, "update", #"{"id": 1, "note": "n"}"#)
        try insert(harness, 20)
        _ = try harness.runAndWait("audit_chain")
        run = try harness.runAndWait("table_digest")
        #expect(run["figures"]?["findings"]?.intValue == 0, "\(run)")
        #expect(run["figures"]?["rows"]?.intValue == 51, "\(run)")
        #expect(run["figures"]?["buckets"]?.intValue == 13, "the grown last bucket is split in fours: \(run)")
        #expect(try tampering(journal, since: mark).isEmpty)

        // The roots are in the signed log, which still verifies, and the audit job is content.
        _ = try harness.runAndWait("audit_chain")
        #expect(try tampering(journal, since: mark).isEmpty, "the audit job reads the table job's entries")
        let exported = harness.stateDirectory + "/../digests-export.json"
        let export = try DaemonHarness.run(DaemonHarness.ctlPath, ["digest", "export", "--socket", harness.socketPath, "--output", exported])
        #expect(export.status == 0, "\(export.output)")
        let verify = try DaemonHarness.run(DaemonHarness.ctlPath, ["digest", "verify", exported])
        #expect(verify.status == 0, "\(verify.output)")
        #expect(verify.output.contains("Table digests: roots of 1 table(s) in entry "), "\(verify.output)")
        let entries = try DigestExportFile(path: exported)
        #expect(entries.latestRoot("shop.orders") != nil, "the table's root is signed")
        #expect(try harness.sql("SELECT entry_seq FROM c77_secure_db_digest_head") == String(entries.count), "and the database has the latest entry")
    }

    @Test func keysWhoseJSONDiffersFromTheirTextAreMatchedByValue() throws {
        // The audit's record_id is the key as JSON spells it ("2024-05-01T10:00:00", "ab    "),
        // the digests' keys are its text ("2024-05-01 10:00:00", "ab").
        let harness = try DaemonHarness()
        try harness.sql("""
            CREATE TABLE shop.ticks (at timestamp PRIMARY KEY, v int, content_hash text);
            CREATE TABLE shop.codes (code char(6) PRIMARY KEY, v int, content_hash text);
            """)
        for hour in 10...12 { try operation(harness, "insert", #"{"at": "2024-05-01 \#(hour):00:00", "v": 1}"#, table: "ticks", key: "at") }
        for code in ["ab", "cd", "ef"] { try operation(harness, "insert", #"{"code": "\#(code)", "v": 1}"#, table: "codes", key: "code") }
        let journal = try start(harness)
        defer { harness.stop(); journal.stop() }

        // Every kind of write on both tables: each explained by its audit row.
        var mark = journal.mark
        try operation(harness, "update", #"{"at": "2024-05-01 10:00:00", "v": 2}"#, table: "ticks", key: "at")
        try operation(harness, "insert", #"{"at": "2024-05-01 13:00:00", "v": 1}"#, table: "ticks", key: "at")
        try operation(harness, "delete", #"{"at": "2024-05-01 11:00:00"}"#, table: "ticks", key: "at")
        try operation(harness, "update", #"{"code": "ab", "v": 2}"#, table: "codes", key: "code")
        try operation(harness, "insert", #"{"code": "zz", "v": 1}"#, table: "codes", key: "code")
        try operation(harness, "delete", #"{"code": "cd"}"#, table: "codes", key: "code")
        #expect(try harness.sql("SELECT string_agg(DISTINCT record_id, '|') FROM c77_secure_db_operation_audit WHERE table_name = 'codes'") == "ab    |cd    |ef    |zz    ")
        // Sealed before the pass, so that they no longer count for the next one.
        _ = try harness.runAndWait("audit_chain")
        var run = try harness.runAndWait("table_digest")
        #expect(run["figures"]?["findings"]?.intValue == 0, "\(run)")
        #expect(run["figures"]?["changed_buckets"]?.intValue == 2, "\(run)")
        #expect(try tampering(journal, since: mark).isEmpty)

        // Tampering with the same rows is still caught, and named by the key's text.
        mark = journal.mark
        try harness.sql("""
            SET session_replication_role = replica;
            UPDATE shop.ticks SET v = 99 WHERE at = '2024-05-01 10:00:00';
            DELETE FROM shop.codes WHERE code = 'ab';
            """)
        run = try harness.runAndWait("table_digest")
        let alerts = try tampering(journal, since: mark)
        #expect(alerts.count == 2, "\(alerts)")
        #expect(Set(alerts.compactMap { $0["MESSAGE"] }) == [
            "DATA_TAMPERING: Row 2024-05-01 10:00:00 of shop.ticks changed without an audited operation",
            "DATA_TAMPERING: Row ab of shop.codes vanished without an audited operation",
        ], "\(alerts)")
        #expect(run["figures"]?["findings"]?.intValue == 2, "\(run)")
    }

    @Test func aDaemonKilledAroundSigningTheRootsLeavesNothingToReport() throws {
        let harness = try DaemonHarness()
        try insert(harness, 10)
        let journal = try start(harness)
        defer { harness.stop(); journal.stop() }
        let mark = journal.mark
        let directory = harness.stateDirectory + "/table-digests"
        let name = try #require(try FileManager.default.contentsOfDirectory(atPath: directory).first { $0.hasSuffix(".json") })
        let state = URL(fileURLWithPath: directory + "/" + name), pending = URL(fileURLWithPath: directory + "/" + name + ".pending")
        let first = try Data(contentsOf: state)
        try insert(harness, 3)
        _ = try harness.runAndWait("table_digest")
        let second = try Data(contentsOf: state)
        #expect(second != first)
        #expect(!FileManager.default.fileExists(atPath: pending.path), "a finished pass leaves no pending state")

        // Killed after it signed the new root, before it committed the new state.
        try second.write(to: pending)
        try first.write(to: state)
        try insert(harness, 2)
        var run = try harness.runAndWait("table_digest")
        #expect(run["figures"]?["findings"]?.intValue == 0 && run["figures"]?["baselines"]?.intValue == 0, "\(run)")
        #expect(!FileManager.default.fileExists(atPath: pending.path), "the signed pending state was committed")

        // Killed before it signed: its pending state has a root the log's latest entry lacks.
        try second.write(to: pending)
        try insert(harness, 2)
        run = try harness.runAndWait("table_digest")
        #expect(run["figures"]?["findings"]?.intValue == 0 && run["figures"]?["baselines"]?.intValue == 0, "\(run)")
        #expect(!FileManager.default.fileExists(atPath: pending.path), "the unsigned pending state was dropped")
        #expect(try tampering(journal, since: mark).isEmpty)
    }

    @Test func bothJobsAppendToOneIntactLog() throws {
        let harness = try DaemonHarness()
        try insert(harness, 10)
        let journal = try start(harness)
        defer { harness.stop(); journal.stop() }
        let mark = journal.mark
        for round in 1...5 {
            try insert(harness, round)
            let digestRuns = harness.finishedRuns("table_digest"), chainRuns = harness.finishedRuns("audit_chain")
            for job in ["audit_chain", "table_digest"] {
                guard case .success = try harness.send(ControlRequest(cmd: "run", args: ["job": .string(job)])) else {
                    throw HarnessError("'run \(job)' was refused")
                }
            }
            _ = try harness.waitForRun("audit_chain", after: chainRuns)
            _ = try harness.waitForRun("table_digest", after: digestRuns)
            #expect(harness.lastOutcome("table_digest") == "success" && harness.lastOutcome("audit_chain") == "success", "round \(round)")
        }
        _ = try harness.runAndWait("audit_chain")
        #expect(try tampering(journal, since: mark).isEmpty, "neither job sees the other's entries as tampering")
        let exported = harness.stateDirectory + "/../digests-export.json"
        _ = try DaemonHarness.run(DaemonHarness.ctlPath, ["digest", "export", "--socket", harness.socketPath, "--output", exported])
        let verify = try DaemonHarness.run(DaemonHarness.ctlPath, ["digest", "verify", exported])
        #expect(verify.status == 0, "\(verify.output)")
    }

    @Test func superuserWritesPastTheTriggersAreCaught() throws {
        let harness = try DaemonHarness()
        try insert(harness, 12)
        let journal = try start(harness, floodThreshold: 3)
        defer { harness.stop(); journal.stop() }

        // A row rewritten with triggers off and its content hash recomputed; next to it, a
        // legitimate update in the same bucket.
        var mark = journal.mark
        try harness.sql("""
            SET session_replication_role = replica;
            UPDATE shop.orders AS t SET amount = 999, content_hash = encode(sha256(convert_to(
                ROW(t.id, t.customer, 999::numeric(12,2), t.note, NULL, NULL, NULL, NULL, NULL)::text, 'UTF8')), 'hex')
            WHERE id = 4;
            """)
        try operation(harness, "update", #"{"id": 3, "amount": 30}"#)
        try expectHashesVerify(harness)
        var run = try harness.runAndWait("table_digest")
        var alerts = try tampering(journal, since: mark)
        #expect(alerts.count == 1, "\(alerts)")
        var alert = try #require(alerts.first)
        #expect(alert["C77_JOB"] == "table_digest")
        #expect(alert["C77_SEVERITY"] == "critical")
        #expect(alert["C77_SCHEMA"] == "shop")
        #expect(alert["C77_TABLE"] == "orders")
        #expect(alert["C77_RECORD_ID"] == "4")
        #expect(alert["MESSAGE"] == "DATA_TAMPERING: Row 4 of shop.orders changed without an audited operation", "\(alert)")
        #expect(alert.details?["change"]?.stringValue == "changed")
        #expect(alert.details?["previous_row_digest"]?.stringValue?.count == 64)
        #expect(alert.details?["row_digest"]?.stringValue == (try harness.sql("SELECT encode(sha256(record_send(t)), 'hex') FROM shop.orders t WHERE id = 4")))
        #expect(run["figures"]?["findings"]?.intValue == 1, "\(run)")

        // A row deleted with triggers off.
        mark = journal.mark
        try harness.sql("SET session_replication_role = replica; DELETE FROM shop.orders WHERE id = 6;")
        try expectHashesVerify(harness)
        _ = try harness.runAndWait("table_digest")
        alerts = try tampering(journal, since: mark)
        #expect(alerts.count == 1, "\(alerts)")
        alert = try #require(alerts.first)
        #expect(alert["C77_RECORD_ID"] == "6")
        #expect(alert["MESSAGE"] == "DATA_TAMPERING: Row 6 of shop.orders vanished without an audited operation", "\(alert)")
        #expect(alert.details?["change"]?.stringValue == "vanished")
        #expect(alert.details?["row_digest"] == .null)

        // A row inserted with triggers off and a correct content hash, past the last bucket.
        mark = journal.mark
        try harness.sql("""
            SET session_replication_role = replica;
            INSERT INTO shop.orders (id, customer, amount, content_hash) VALUES (1000, 'ghost', 5,
                encode(sha256(convert_to(ROW(1000::bigint, 'ghost'::text, 5::numeric(12,2), NULL::text, NULL, NULL, NULL, NULL, NULL)::text, 'UTF8')), 'hex'));
            """)
        try expectHashesVerify(harness)
        run = try harness.runAndWait("table_digest")
        alerts = try tampering(journal, since: mark)
        #expect(alerts.count == 1, "\(alerts)")
        alert = try #require(alerts.first)
        #expect(alert["C77_RECORD_ID"] == "1000")
        #expect(alert["MESSAGE"] == "DATA_TAMPERING: Row 1000 of shop.orders appeared without an audited operation", "\(alert)")
        #expect(alert.details?["change"]?.stringValue == "appeared")
        #expect(alert.details?["previous_row_digest"] == .null)

        // Once reported, the rows are the new record: the next pass is quiet.
        mark = journal.mark
        run = try harness.runAndWait("table_digest")
        #expect(run["figures"]?["findings"]?.intValue == 0, "\(run)")

        // A flood: five rows changed (one only in a timestamp); three alerts, then a summary.
        try harness.sql("""
            SET session_replication_role = replica;
            UPDATE shop.orders SET note = 'x' WHERE id IN (1, 2, 8, 9);
            UPDATE shop.orders SET created_at = created_at - interval '1 day' WHERE id = 10;
            """)
        _ = try harness.runAndWait("table_digest")
        alerts = try tampering(journal, since: mark)
        #expect(alerts.count == 4, "\(alerts)")
        #expect(alerts.prefix(3).compactMap { $0["C77_RECORD_ID"] } == ["1", "2", "8"], "\(alerts)")
        let summary = try #require(alerts.last)
        #expect(summary["MESSAGE"]?.hasPrefix("DATA_TAMPERING: 5 rows of shop.orders changed, vanished or appeared without an audited operation") == true, "\(summary)")
        #expect(summary.details?["first_keys"] == .array(["1", "2", "8"]))
        #expect(summary.details?["by_change"]?["changed"]?.intValue == 5)
    }

    @Test func damagedDigestStateIsCaught() throws {
        let harness = try DaemonHarness()
        try insert(harness, 10)
        let journal = try start(harness)
        defer { harness.stop(); journal.stop() }
        let directory = harness.stateDirectory + "/table-digests"
        let stateName = try FileManager.default.contentsOfDirectory(atPath: directory).first { $0.hasSuffix(".json") }
        let statePath = directory + "/" + (try #require(stateName))

        // The state edited to hide a change: it no longer has the signed root.
        var mark = journal.mark
        var state = try JSONDecoder().decode(JSONValue.self, from: Data(contentsOf: URL(fileURLWithPath: statePath)))
        guard case .object(var object) = state, case .array(var buckets) = object["buckets"], case .object(var first) = buckets[0] else {
            Issue.record("unexpected state: \(state)")
            return
        }
        first["count"] = .integer(3)
        buckets[0] = .object(first)
        object["buckets"] = .array(buckets)
        state = .object(object)
        try JSONEncoder().encode(state).write(to: URL(fileURLWithPath: statePath))
        var run = try harness.runAndWait("table_digest")
        var alerts = try tampering(journal, since: mark)
        #expect(alerts.count == 1, "\(alerts)")
        #expect(alerts.first?["MESSAGE"] == "DATA_TAMPERING: The table digests of shop.orders kept in \(directory) differ from the root in the signed digest log; starting over from the table as it is now", "\(alerts)")
        #expect(alerts.first?["C77_FINGERPRINT"] == "table_digest_state:shop.orders:differs")
        #expect(run["figures"]?["baselines"]?.intValue == 1, "\(run)")

        // Started over: the next pass is quiet.
        mark = journal.mark
        run = try harness.runAndWait("table_digest")
        #expect(run["figures"]?["findings"]?.intValue == 0, "\(run)")
        #expect(try tampering(journal, since: mark).isEmpty)

        // A bucket's leaves edited: found when the bucket is next compared.
        let rowDigest = try harness.sql("SELECT encode(sha256(record_send(t)), 'hex') FROM shop.orders t WHERE id = 2")
        let leavesDirectory = directory + "/leaves"
        let leavesName = try FileManager.default.contentsOfDirectory(atPath: leavesDirectory).first { name in
            (try? String(contentsOfFile: leavesDirectory + "/" + name, encoding: .utf8))?.contains(rowDigest + " 2\n") == true
        }
        let leavesPath = leavesDirectory + "/" + (try #require(leavesName, "the leaves of the bucket with row 2"))
        let leaves = try String(contentsOfFile: leavesPath, encoding: .utf8)
        try leaves.replacingOccurrences(of: rowDigest + " 2\n", with: rowDigest + " 22\n").write(toFile: leavesPath, atomically: true, encoding: .utf8)
        try operation(harness, "update", #"{"id": 2, "amount": 20}"#)
        _ = try harness.runAndWait("table_digest")
        alerts = try tampering(journal, since: mark)
        #expect(alerts.count == 1, "\(alerts)")
        #expect(alerts.first?["MESSAGE"]?.contains("kept in \(directory) have a damaged bucket (\(leavesPath) was changed)") == true, "\(alerts)")

        // The state removed altogether, while the signed log still has its root.
        mark = journal.mark
        try FileManager.default.removeItem(atPath: statePath)
        _ = try harness.runAndWait("table_digest")
        alerts = try tampering(journal, since: mark)
        #expect(alerts.count == 1, "\(alerts)")
        #expect(alerts.first?["MESSAGE"]?.contains("are missing, though the signed digest log has their root") == true, "\(alerts)")
    }
}

/// An exported digest log, read back for its table roots.
struct DigestExportFile {
    let entries: [JSONValue]

    init(path: String) throws {
        let export = try JSONDecoder().decode(JSONValue.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        entries = export["entries"]?.arrayValue ?? []
    }

    var count: Int { entries.count }

    /// The table's root in the latest entry that has table roots.
    func latestRoot(_ table: String) -> String? {
        entries.last { $0["table_roots"] != nil }?["table_roots"]?[table]?.stringValue
    }
}
