import ControlSocket
import Foundation
import Testing

/// DATA_TAMPERING alerts of `hash_verification` against a real cluster: one per row up to
/// `alert_flood_threshold`, a summary per table above it; `fix_mismatches` rewrites only after
/// the alert went out, and only when enabled.
@Suite(.serialized) struct TamperingAlertTests {
    /// Writes `count` rows into `table` through the write path.
    func seed(_ harness: DaemonHarness, _ table: String, _ count: Int) throws {
        try harness.sql("""
            SELECT c77_secure_db_operation(jsonb_build_object('schema_name', 'shop', 'table_name', '\(table)', 'operation', 'insert',
                'data', jsonb_build_object('customer', 'C' || i, 'amount', i))) FROM generate_series(1, \(count)) i;
            """)
    }

    /// Changes rows the way a rogue superuser would: past the triggers, hashes left alone.
    func tamper(_ harness: DaemonHarness, _ table: String, where condition: String) throws {
        try harness.sql("""
            BEGIN;
            SET LOCAL session_replication_role = replica;
            UPDATE shop.\(table) SET amount = amount + 1000, note = 'tampered' WHERE \(condition);
            COMMIT;
            """)
    }

    /// What the extension itself says about the table's rows: key → (stored, calculated).
    func mismatches(_ harness: DaemonHarness, _ table: String) throws -> [String: (stored: String, calculated: String)] {
        let text = try harness.sql("""
            SELECT m ->> 'primary_key_value', m ->> 'stored_hash', m ->> 'calculated_hash'
            FROM jsonb_array_elements(c77_secure_db_verify_range('shop', '\(table)', NULL, 100000) -> 'mismatches') m
            """)
        var result: [String: (stored: String, calculated: String)] = [:]
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: "|").map(String.init)
            result[fields[0]] = (fields[1], fields[2])
        }
        return result
    }

    @Test func aFloodOfMismatchesIsSummarizedPerTableAndAFewAreAlertedRowByRow() throws {
        let harness = try DaemonHarness()
        try harness.sql("""
            CREATE TABLE shop.payments (
                id BIGSERIAL PRIMARY KEY, customer TEXT NOT NULL, amount NUMERIC(12,2), note TEXT,
                content_hash TEXT, hash_version INTEGER DEFAULT 1,
                created_at TIMESTAMPTZ DEFAULT now(), updated_at TIMESTAMPTZ DEFAULT now(), deleted_at TIMESTAMPTZ);
            """)
        try seed(harness, "orders", 60)
        try seed(harness, "payments", 20)
        try tamper(harness, "orders", where: "id BETWEEN 11 AND 35")           // 25 rows, above the threshold
        try tamper(harness, "payments", where: "id IN (4, 9, 17)")             // 3 rows, below it
        let paymentsTruth = try mismatches(harness, "payments")
        #expect(paymentsTruth.count == 3)
        #expect(try mismatches(harness, "orders").count == 25)

        try harness.writeConfig(harness.config("""
            [job.hash_verification]
            interval = 1h
            batch_size = 7
            alert_flood_threshold = 5
            """))
        let journal = JournalRecorder(harness.journal)
        defer { journal.stop() }
        try harness.start()
        defer { harness.stop() }
        #expect(eventually(timeout: .seconds(90)) { harness.lastOutcome("hash_verification") == "success" }, "log:\n\(harness.log())")
        let run = harness.lastRun("hash_verification")
        #expect(run?["figures"]?["mismatches"]?.intValue == 28, "\(String(describing: run))")
        #expect(run?["figures"]?["fixed"]?.intValue == 0)

        let tampering = try { try journal.sync(); return journal.alerts() }().filter { $0["C77_ALERT_TYPE"] == "DATA_TAMPERING" }

        // orders: one summary naming the count and the first keys, not one alert per row.
        let orders = tampering.filter { $0["C77_TABLE"] == "orders" }
        let summaries = orders.filter { $0.details?["mismatch_count"] != nil }
        #expect(summaries.count == 1, "\(orders)")
        let summary = summaries.first
        #expect(summary?["C77_SCHEMA"] == "shop")
        #expect(summary?["PRIORITY"] == "2")
        #expect(summary?["C77_RECORD_ID"] == nil)
        #expect(summary?.details?["mismatch_count"]?.intValue == 25, "\(String(describing: summary))")
        #expect(summary?.details?["first_keys"]?.arrayValue?.compactMap(\.stringValue) == ["11", "12", "13", "14", "15"])
        #expect(summary?["MESSAGE"]?.contains("25 rows of shop.orders") == true, "\(String(describing: summary))")
        // The threshold's worth of row alerts went out as they were found (the first keys);
        // the other 20 rows have only the summary.
        let orderRows = orders.filter { $0["C77_RECORD_ID"] != nil }
        #expect(orderRows.compactMap { $0["C77_RECORD_ID"] } == ["11", "12", "13", "14", "15"], "\(orders)")
        #expect(orders.count == 6, "\(orders.count) alerts for 25 tampered rows")

        // payments: one alert per row with schema, table, key, stored and calculated hash.
        let payments = tampering.filter { $0["C77_TABLE"] == "payments" }
        #expect(payments.count == 3, "\(payments)")
        #expect(Set(payments.compactMap { $0["C77_RECORD_ID"] }) == ["4", "9", "17"])
        for alert in payments {
            let key = alert["C77_RECORD_ID"] ?? ""
            #expect(alert["C77_SCHEMA"] == "shop")
            #expect(alert["PRIORITY"] == "2")
            #expect(alert.details?["mismatch_count"] == nil, "no summary below the threshold")
            #expect(alert.details?["primary_key_value"]?.stringValue == key)
            #expect(alert.details?["stored_hash"]?.stringValue == paymentsTruth[key]?.stored, "\(alert)")
            #expect(alert.details?["calculated_hash"]?.stringValue == paymentsTruth[key]?.calculated, "\(alert)")
            #expect(alert.details?["stored_hash"] != alert.details?["calculated_hash"])
        }
    }

    @Test func fixMismatchesRewritesTheHashOnlyAfterTheAlertWentOut() throws {
        let harness = try DaemonHarness()
        try harness.sql("GRANT c77_secure_db_admin TO \(harness.monitorRole)")
        try seed(harness, "orders", 10)
        try tamper(harness, "orders", where: "id = 3")
        let truth = try #require(try mismatches(harness, "orders")["3"])
        try harness.writeConfig(harness.config("""
            [job.hash_verification]
            interval = 1h
            fix_mismatches = true
            """))
        let journal = JournalRecorder(harness.journal)
        defer { journal.stop() }
        try harness.start()
        defer { harness.stop() }
        #expect(eventually(timeout: .seconds(90)) { harness.lastOutcome("hash_verification") == "success" }, "log:\n\(harness.log())")
        let run = harness.lastRun("hash_verification")
        #expect(run?["figures"]?["mismatches"]?.intValue == 1, "\(String(describing: run))")
        #expect(run?["figures"]?["fixed"]?.intValue == 1, "\(String(describing: run))")

        // The journal got the tampering alert (with the hash as it was stored) first, then the
        // notice that hashes were recomputed.
        let alerts = try { try journal.sync(); return journal.alerts() }()
        let tamperingIndex = alerts.firstIndex { $0["C77_ALERT_TYPE"] == "DATA_TAMPERING" && $0["C77_RECORD_ID"] == "3" }
        let recomputedIndex = alerts.firstIndex { $0["C77_ALERT_TYPE"] == "HASHES_RECOMPUTED" && $0["C77_TABLE"] == "orders" }
        let tampering = try #require(tamperingIndex.map { alerts[$0] }, "\(alerts)")
        #expect(tampering.details?["stored_hash"]?.stringValue == truth.stored)
        #expect(tampering.details?["calculated_hash"]?.stringValue == truth.calculated)
        #expect(tamperingIndex! < (recomputedIndex ?? -1), "alert before the fix notice: \(alerts.map { $0["C77_ALERT_TYPE"] ?? "" })")
        #expect(recomputedIndex.map { alerts[$0].details?["fixed_count"]?.intValue } == 1)

        // The fix's audit record is not older than the alert (to the second the control socket
        // reports), names the hash it replaced, and the daemon's login did it.
        guard case .success(let recent) = try harness.send(ControlRequest(cmd: "alerts")) else {
            Issue.record("alerts failed")
            return
        }
        let alertCreated = try #require(recent.arrayValue?.first {
            $0["type"]?.stringValue == "DATA_TAMPERING" && $0["record_id"]?.stringValue == "3"
        }?["created_at"]?.stringValue)
        let fixAudit = try harness.sql("""
            SELECT user_name || '|' || record_id || '|' || (details ->> 'previous_hash') || '|' || content_hash || '|'
                   || (created_at > '\(alertCreated)'::timestamptz)
            FROM c77_secure_db_operation_audit WHERE operation_type = 'fix_hash'
            """)
        #expect(fixAudit == "c77_monitor|3|\(truth.stored)|\(truth.calculated)|true", "\(fixAudit); alert at \(alertCreated)")

        // The row verifies again, with the hash of its (tampered) content.
        #expect(try mismatches(harness, "orders").isEmpty)
        #expect(try harness.sql("SELECT content_hash FROM shop.orders WHERE id = 3") == truth.calculated)
    }

    @Test func fixMismatchesLeavesRowsTamperedAfterThePassHadVerifiedThem() throws {
        let harness = try DaemonHarness()
        try harness.sql("GRANT c77_secure_db_admin TO \(harness.monitorRole)")
        try seed(harness, "orders", 40)
        try tamper(harness, "orders", where: "id = 3")
        let original = try harness.sql("SELECT content_hash FROM shop.orders WHERE id = 1")
        // One row per batch, two rows a second: the pass takes about 20 s.
        try harness.writeConfig(harness.config("""
            [job.hash_verification]
            interval = 1h
            batch_size = 1
            max_rows_per_second = 2
            fix_mismatches = true
            """))
        let journal = JournalRecorder(harness.journal)
        defer { journal.stop() }
        try harness.start()
        defer { harness.stop() }
        #expect(eventually(timeout: .seconds(60)) {
            (harness.jobSnapshot("hash_verification")?["progress"]?["rows_done"]?.intValue ?? 0) >= 5
        }, "log:\n\(harness.log())")
        // Row 1 was verified (intact) already; now it is changed behind the daemon's back.
        try tamper(harness, "orders", where: "id = 1")
        #expect(harness.finishedRuns("hash_verification") == 0, "tampered while the pass was still running")
        let run = try harness.waitForRun("hash_verification", after: 0)
        #expect(run["outcome"]?.stringValue == "success", "\(run)")
        #expect(run["figures"]?["mismatches"]?.intValue == 1, "\(run)")
        #expect(run["figures"]?["fixed"]?.intValue == 1, "\(run)")

        try journal.sync()
        let tampering = journal.alerts().filter { $0["C77_ALERT_TYPE"] == "DATA_TAMPERING" }
        #expect(tampering.compactMap { $0["C77_RECORD_ID"] } == ["3"], "\(tampering)")
        // Only the alerted row was rewritten: row 1 keeps its hash, so the next pass finds it.
        #expect(try harness.sql("SELECT string_agg(record_id, ',') FROM c77_secure_db_operation_audit WHERE operation_type = 'fix_hash'") == "3")
        #expect(try harness.sql("SELECT content_hash FROM shop.orders WHERE id = 1") == original)
        #expect(Set(try mismatches(harness, "orders").keys) == ["1"])
    }

    @Test func byDefaultATamperedRowIsAlertedAndNothingIsRewritten() throws {
        let harness = try DaemonHarness()
        // Even a role that could fix hashes leaves them alone unless fix_mismatches is on.
        try harness.sql("GRANT c77_secure_db_admin TO \(harness.monitorRole)")
        try seed(harness, "orders", 10)
        try tamper(harness, "orders", where: "id = 3")
        let truth = try #require(try mismatches(harness, "orders")["3"])
        try harness.writeConfig(harness.config("[job.hash_verification]\ninterval = 1h\n"))
        let journal = JournalRecorder(harness.journal)
        defer { journal.stop() }
        try harness.start()
        defer { harness.stop() }
        #expect(eventually(timeout: .seconds(90)) { harness.lastOutcome("hash_verification") == "success" }, "log:\n\(harness.log())")
        #expect(harness.lastRun("hash_verification")?["figures"]?["fixed"]?.intValue == 0)
        let alerts = try { try journal.sync(); return journal.alerts() }()
        #expect(alerts.contains { $0["C77_ALERT_TYPE"] == "DATA_TAMPERING" && $0["C77_RECORD_ID"] == "3" }, "\(alerts)")
        #expect(!alerts.contains { $0["C77_ALERT_TYPE"] == "HASHES_RECOMPUTED" })
        #expect(try harness.sql("SELECT content_hash FROM shop.orders WHERE id = 3") == truth.stored)
        #expect(try harness.sql("SELECT count(*) FROM c77_secure_db_operation_audit WHERE operation_type = 'fix_hash'") == "0")
        #expect(try mismatches(harness, "orders")["3"]?.calculated == truth.calculated)
    }

    @Test func aRowWithoutAHashIsTampering() throws {
        let harness = try DaemonHarness()
        try seed(harness, "orders", 5)
        try harness.sql("""
            BEGIN;
            SET LOCAL session_replication_role = replica;
            INSERT INTO shop.orders (customer, amount) VALUES ('ghost', 1);
            COMMIT;
            """)
        try harness.writeConfig(harness.config("""
            [job.hash_verification]
            interval = 1h
            """))
        let journal = JournalRecorder(harness.journal)
        defer { journal.stop() }
        try harness.start()
        defer { harness.stop() }
        #expect(eventually(timeout: .seconds(90)) { harness.lastOutcome("hash_verification") == "success" }, "log:\n\(harness.log())")
        let alerts = try { try journal.sync(); return journal.alerts() }()
        #expect(alerts.contains { $0["C77_ALERT_TYPE"] == "DATA_TAMPERING" && $0["MESSAGE"]?.contains("1 row(s) of shop.orders have no content hash") == true },
                "\(alerts.map { $0["MESSAGE"] ?? "" })")
    }
}
