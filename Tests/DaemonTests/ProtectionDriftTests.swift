import ControlSocket
import Foundation
import Testing

/// PROTECTION_DRIFT of the registry and of the extension's own objects, done the way a
/// superuser could, against a real cluster: each change is a critical alert naming the object.
@Suite(.serialized) struct ProtectionDriftTests {
    func drift(_ alerts: [[String: String]]) -> [[String: String]] {
        alerts.filter { $0["C77_ALERT_TYPE"] == "PROTECTION_DRIFT" && $0["C77_STATUS"] == "firing" }
    }

    func alert(naming object: String, in alerts: [[String: String]]) -> [String: String]? {
        alerts.first { $0.details?["object"]?.stringValue == object }
    }

    @Test func registryFunctionAndEventTriggerDriftIsAlertedByName() throws {
        let harness = try DaemonHarness()
        try harness.sql("CREATE ROLE mallory")
        try harness.writeConfig(harness.config("[job.hash_verification]\ninterval = 1h\n"))
        let journal = JournalRecorder(harness.journal)
        defer { journal.stop() }
        try harness.start()
        defer { harness.stop() }
        // The first pass records what the protection looks like.
        #expect(eventually(timeout: .seconds(60)) { harness.lastOutcome("hash_verification") == "success" }, "log:\n\(harness.log())")
        try journal.sync()
        #expect(drift(journal.alerts()).isEmpty, "an intact installation is no drift")
        var mark = journal.mark

        try harness.sql("""
            DELETE FROM c77_secure_db_secure_schemas WHERE schema_name = 'shop';
            ALTER FUNCTION c77_secure_db_purge_audit(timestamptz, integer) SECURITY INVOKER;
            ALTER FUNCTION c77_secure_db_health_check() OWNER TO mallory;
            CREATE OR REPLACE FUNCTION c77_secure_db_get_operation_template(p_schema_name text, p_table_name text, p_operation text)
                RETURNS text LANGUAGE sql AS $$ SELECT 'nothing to see'::text $$;
            ALTER EXTENSION c77_secure_db DROP FUNCTION c77_secure_db_run_all_tests();
            DROP FUNCTION c77_secure_db_run_all_tests();
            ALTER EVENT TRIGGER c77_secure_db_drop_guard DISABLE;
            ALTER EXTENSION c77_secure_db DROP EVENT TRIGGER c77_secure_db_ddl_guard;
            DROP EVENT TRIGGER c77_secure_db_ddl_guard;
            """)
        _ = try harness.runAndWait("hash_verification")
        try journal.sync()
        let alerts = drift(journal.alerts(since: mark))
        mark = journal.mark
        let described = alerts.map { $0["MESSAGE"] ?? "" }.joined(separator: "\n")
        for entry in alerts {
            #expect(entry["PRIORITY"] == "2", "critical: \(entry)")
            #expect(entry["C77_SEVERITY"] == "critical")
        }

        // (a) the schema left the registry
        let registry = alert(naming: "schema shop", in: alerts)
        #expect(registry?["C77_SCHEMA"] == "shop", "\(described)")
        #expect(registry?["MESSAGE"]?.contains("removed from the secure schema registry") == true, "\(described)")

        // (b) functions altered, re-owned, replaced, dropped
        let invoker = alert(naming: "function c77_secure_db_purge_audit(timestamp with time zone,integer)", in: alerts)
        #expect(invoker?["MESSAGE"]?.contains("security: definer → invoker") == true, "\(described)")
        let owner = alert(naming: "function c77_secure_db_health_check()", in: alerts)
        #expect(owner?["MESSAGE"]?.contains("owner: postgres → mallory") == true, "\(described)")
        let replaced = alert(naming: "function c77_secure_db_get_operation_template(text,text,text)", in: alerts)
        #expect(replaced?["MESSAGE"]?.contains("body changed") == true, "\(described)")
        #expect(replaced?.details?["changes"]?["language"]?["found"]?.stringValue == "sql", "\(described)")
        let dropped = alert(naming: "function c77_secure_db_run_all_tests()", in: alerts)
        #expect(dropped?["MESSAGE"]?.contains("dropped or detached") == true, "\(described)")

        // (c) event triggers disabled or dropped
        let disabled = alert(naming: "event trigger c77_secure_db_drop_guard", in: alerts)
        #expect(disabled?["MESSAGE"]?.contains("is disabled") == true, "\(described)")
        let droppedTrigger = alert(naming: "event trigger c77_secure_db_ddl_guard", in: alerts)
        #expect(droppedTrigger?["MESSAGE"]?.contains("dropped or detached") == true, "\(described)")
        #expect(alerts.count == 7, "\(described)")

        // Putting one object back resolves its alert; the others keep firing.
        try harness.sql("ALTER FUNCTION c77_secure_db_purge_audit(timestamptz, integer) SECURITY DEFINER")
        _ = try harness.runAndWait("hash_verification")
        try journal.sync()
        let after = journal.alerts(since: mark).filter { $0["C77_ALERT_TYPE"] == "PROTECTION_DRIFT" }
        #expect(after.contains {
            $0["C77_STATUS"] == "resolved" && $0.details?["object"]?.stringValue == "function c77_secure_db_purge_audit(timestamp with time zone,integer)"
        }, "\(after)")
        guard case .success(let status) = try harness.send(ControlRequest(cmd: "status")) else {
            Issue.record("status failed")
            return
        }
        #expect(harness.lastRun("hash_verification")?["figures"]?["protection_findings"]?.intValue == 6, "\(status)")
    }

    @Test func anEventTriggerEnabledForReplicaSessionsOnlyIsDrift() throws {
        let harness = try DaemonHarness()
        try harness.writeConfig(harness.config("[job.hash_verification]\ninterval = 1h\n"))
        let journal = JournalRecorder(harness.journal)
        defer { journal.stop() }
        try harness.start()
        defer { harness.stop() }
        #expect(eventually(timeout: .seconds(60)) { harness.lastOutcome("hash_verification") == "success" }, "log:\n\(harness.log())")
        // Fires only under session_replication_role = replica: off for every ordinary session.
        try harness.sql("ALTER EVENT TRIGGER c77_secure_db_ddl_guard ENABLE REPLICA")
        _ = try harness.runAndWait("hash_verification")
        try journal.sync()
        let alerts = drift(journal.alerts())
        let entry = alert(naming: "event trigger c77_secure_db_ddl_guard", in: alerts)
        #expect(entry?["PRIORITY"] == "2", "\(alerts)")
        #expect(entry?["MESSAGE"]?.contains("replica sessions only") == true, "\(alerts)")
    }
}
