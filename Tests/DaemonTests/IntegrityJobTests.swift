import ControlSocket
import Foundation
import Glibc
import LocalReceivers
import Testing

/// The verification and anomaly jobs against a real cluster, seen through the journald stand-in.
@Suite(.serialized) struct IntegrityJobTests {
    func journalAlert(_ harness: DaemonHarness, _ predicate: @escaping ([String: String]) -> Bool,
                      timeout: Duration = .seconds(20)) -> [String: String]? {
        harness.journal.receive(until: { predicate(JournalEntryParser.parse($0)) }, timeout: timeout).map(JournalEntryParser.parse)
    }

    @Test func anomalyHeuristicsFlagTheSuspiciousUserOnly() throws {
        let harness = try DaemonHarness()
        try harness.writeConfig(harness.config("""
            [job.anomaly_detection]
            interval = 1h
            business_hours = 00:00-00:00
            """))
        try harness.cluster.psql("""
            INSERT INTO c77_secure_db_operation_audit (operation_id, schema_name, table_name, operation_type, success, user_name, created_at, execution_time_ms)
            SELECT gen_random_uuid(), 'shop', 'orders', 'update', i > 15, 'mallory', now() - interval '10 minutes', 2
            FROM generate_series(1, 120) i;
            INSERT INTO c77_secure_db_operation_audit (operation_id, schema_name, table_name, operation_type, success, user_name, created_at)
            SELECT gen_random_uuid(), 'shop', 'orders', 'insert', true, 'alice', now() - interval '5 minutes' FROM generate_series(1, 3);
            """, database: harness.database)
        try harness.start()
        defer { harness.stop() }
        var seen: [String: [String: String]] = [:]
        while let entry = journalAlert(harness, { $0["C77_ALERT_TYPE"] != nil }, timeout: .seconds(10)) {
            seen[entry["C77_ALERT_TYPE"]! + "|" + (entry["C77_DETAILS"] ?? "")] = entry
            if seen.keys.filter({ $0.hasPrefix("HIGH_ERROR_RATE_USER") || $0.hasPrefix("UNUSUAL_ACTIVITY_VOLUME") || $0.hasPrefix("OFF_HOURS_ACTIVITY") }).count >= 3 { break }
        }
        let types = Set(seen.keys.map { String($0.split(separator: "|")[0]) })
        #expect(types.isSuperset(of: ["HIGH_ERROR_RATE_USER", "UNUSUAL_ACTIVITY_VOLUME", "OFF_HOURS_ACTIVITY"]), "\(seen.keys); log:\n\(harness.log())")
        #expect(seen.keys.allSatisfy { !$0.contains("alice") }, "alice stays under every threshold")
        #expect(seen.keys.contains { $0.hasPrefix("HIGH_ERROR_RATE_USER") && $0.contains("\"error_count\":15") })
    }

    /// SLOW_OPERATIONS is percentile_cont(0.95) > slow_operation_ms, also where the percentile
    /// interpolates and where more than 5% of the rows are above the threshold but p95 is not.
    @Test func slowOperationsFollowTheInterpolatedPercentile() throws {
        let harness = try DaemonHarness()
        try harness.writeConfig(harness.config("""
            [job.anomaly_detection]
            interval = 1h
            slow_operation_ms = 1000
            """))
        // p95 of n values is v[0.95 (n - 1)], interpolated: 21 rows → v[19]; 30 rows → v[27] + 0.55 (v[28] - v[27]).
        let tables: [(String, [Int])] = [
            ("exact_slow", Array(repeating: 10, count: 19) + [2000, 2000]),    // p95 = 2000
            ("one_outlier", Array(repeating: 10, count: 20) + [2000]),         // p95 = 10
            ("interp_slow", Array(repeating: 10, count: 28) + [2000, 2000]),   // p95 = 1104.4999… (float8)
            ("interp_fast", Array(repeating: 10, count: 28) + [1500, 1500]),   // p95 = 829.5, though 2 of 30 rows are above
        ]
        let values = tables.flatMap { table, times in times.map { "('\(table)', \($0))" } }.joined(separator: ", ")
        try harness.cluster.psql("""
            INSERT INTO c77_secure_db_operation_audit (operation_id, schema_name, table_name, operation_type, success, user_name, created_at, execution_time_ms)
            SELECT gen_random_uuid(), 'shop', t, 'update', true, 'alice', now() - interval '10 minutes', ms
            FROM (VALUES \(values)) AS v(t, ms);
            """, database: harness.database)
        try harness.start()
        defer { harness.stop() }
        var slow: [String: [String: String]] = [:]
        while let entry = journalAlert(harness, { $0["C77_ALERT_TYPE"] == "SLOW_OPERATIONS" }, timeout: .seconds(5)) {
            slow[entry["C77_TABLE"] ?? ""] = entry
        }
        #expect(Set(slow.keys) == ["exact_slow", "interp_slow"], "log:\n\(harness.log())")
        #expect(slow["exact_slow"]?["C77_DETAILS"]?.contains("\"p95_ms\":2000") == true)
        #expect(slow["interp_slow"]?["C77_DETAILS"]?.contains("\"p95_ms\":1104.4") == true, "\(slow["interp_slow"] ?? [:])")
    }

    @Test func aRestartResumesAVerificationPassFromItsCheckpoint() throws {
        let harness = try DaemonHarness()
        try harness.cluster.psql("""
            SELECT c77_secure_db_operation(jsonb_build_object('schema_name', 'shop', 'table_name', 'orders', 'operation', 'insert',
                'data', jsonb_build_object('customer', 'C' || i, 'amount', i))) FROM generate_series(1, 3000) i;
            ANALYZE shop.orders;
            """, database: harness.database)
        try harness.writeConfig(harness.config("""
            [job.hash_verification]
            interval = 1h
            batch_size = 100
            max_rows_per_second = 600
            """))
        try harness.start()
        let checkpoint = harness.stateDirectory + "/verification/shop.orders.json"
        #expect(eventually(timeout: .seconds(10)) { FileManager.default.fileExists(atPath: checkpoint) }, "log:\n\(harness.log())")
        Thread.sleep(forTimeInterval: 1.5)
        harness.signal(SIGKILL)
        harness.process?.waitUntilExit()
        let saved = try JSONDecoder().decode(JSONValue.self, from: Data(contentsOf: URL(fileURLWithPath: checkpoint)))
        let done = saved["rows_done"]?.intValue ?? 0
        #expect(done > 0 && done < 3000, "killed mid-pass: \(done) rows done")

        try harness.start()
        defer { harness.stop() }
        #expect(eventually(timeout: .seconds(30)) { harness.lastOutcome("hash_verification") == "success" }, "log:\n\(harness.log())")
        #expect(harness.log().contains("Resuming verification from checkpoint"))
        #expect(!FileManager.default.fileExists(atPath: checkpoint), "the checkpoint is removed when the table is done")
    }

    @Test func disabledProtectionIsAlertedAsDrift() throws {
        let harness = try DaemonHarness()
        try harness.writeConfig(harness.config("[job.hash_verification]\ninterval = 1h\n"))
        try harness.start()
        defer { harness.stop() }
        #expect(eventually(timeout: .seconds(20)) { harness.lastOutcome("hash_verification") == "success" })
        try harness.cluster.psql("ALTER TABLE shop.orders DISABLE TRIGGER c77_secure_db_protect", database: harness.database)
        _ = try harness.send(ControlRequest(cmd: "run", args: ["job": "hash_verification"]))
        let entry = journalAlert(harness, { $0["C77_ALERT_TYPE"] == "PROTECTION_DRIFT" })
        #expect(entry?["C77_TABLE"] == "orders", "log:\n\(harness.log())")
        #expect(entry?["PRIORITY"] == "2")
        #expect(entry?["MESSAGE"]?.contains("protection trigger(s) disabled") == true)
    }
}
