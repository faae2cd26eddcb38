import ControlSocket
import Foundation
import Testing

/// `[job.retention]` against a real cluster: old audit rows and spent tokens go, recent ones
/// stay, the run reports its counts, and the purge is itself audited.
@Suite(.serialized) struct RetentionJobTests {
    @Test func retentionPurgesOldAuditRowsAndSpentTokensAndAuditsThePurge() throws {
        let harness = try DaemonHarness()
        try harness.sql("""
            GRANT EXECUTE ON FUNCTION c77_secure_db_purge_audit(timestamptz, integer) TO \(harness.monitorRole);
            -- Retention removes a prefix of the audit chain: start it with the old rows (nothing
            -- is sealed yet, so the setup's own records can go).
            DELETE FROM c77_secure_db_operation_audit;
            INSERT INTO c77_secure_db_operation_audit (operation_id, schema_name, table_name, operation_type, success, user_name, created_at)
            SELECT gen_random_uuid(), 'shop', 'orders', 'insert', true, 'old_writer', now() - interval '40 days' - i * interval '1 minute'
            FROM generate_series(1, 25) i;
            INSERT INTO c77_secure_db_operation_audit (operation_id, schema_name, table_name, operation_type, success, user_name, created_at)
            SELECT gen_random_uuid(), 'shop', 'orders', 'insert', true, 'recent_writer', now() - interval '20 days' - i * interval '1 minute'
            FROM generate_series(1, 4) i;
            INSERT INTO c77_secure_db_auth_tokens (token, session_id, operation_type, expires_at, used)
            SELECT gen_random_uuid(), 'test', 'insert', now() + interval '1 hour', true FROM generate_series(1, 3);
            INSERT INTO c77_secure_db_auth_tokens (token, session_id, operation_type, created_at, expires_at, used)
            SELECT gen_random_uuid(), 'test', 'insert', now() - interval '1 day', now() - interval '1 day', false FROM generate_series(1, 2);
            INSERT INTO c77_secure_db_auth_tokens (token, session_id, operation_type, expires_at, used)
            VALUES (gen_random_uuid(), 'live', 'insert', now() + interval '1 hour', false);
            """)
        // Scheduled at night only, and no token cleanup of its own: whatever is purged, the
        // manual retention run purged.
        try harness.writeConfig(harness.config("""
            [job.retention]
            enabled = true
            schedule = 30 2 * * *
            audit_max_age = 30d
            batch_size = 10

            [job.token_cleanup]
            enabled = false
            """))
        // Our 5, and whatever registering the schema left behind (its spent rehash token).
        let spent = Int(try harness.sql("SELECT count(*) FROM c77_secure_db_auth_tokens WHERE used OR expires_at < now()")) ?? -1
        #expect(spent >= 5)
        try harness.start()
        defer { harness.stop() }
        #expect(harness.finishedRuns("retention") == 0, "not scheduled before the night")

        let cli = try DaemonHarness.run(DaemonHarness.ctlPath, ["run", "retention", "--socket", harness.socketPath])
        #expect(cli.status == 0, "\(cli.output)")
        #expect(cli.output.contains("Started retention"), "\(cli.output)")
        let run: JSONValue? = try harness.waitForRun("retention", after: 0)
        #expect(run?["outcome"]?.stringValue == "success", "\(String(describing: run)); log:\n\(harness.log())")
        #expect(run?["trigger"]?.stringValue == "manual")
        #expect(run?["figures"]?["audit_rows_purged"]?.intValue == 25, "\(String(describing: run))")
        #expect(run?["figures"]?["tokens_removed"]?.intValue == spent, "\(String(describing: run))")
        #expect(run?["summary"]?.stringValue?.contains("purged 25 audit row(s) older than 30d, \(spent) token(s)") == true, "\(String(describing: run))")

        // The old rows are gone, the recent ones (younger than audit_max_age) remain, and so
        // does the token still in force.
        #expect(try harness.sql("SELECT count(*) FROM c77_secure_db_operation_audit WHERE user_name = 'old_writer'") == "0")
        #expect(try harness.sql("SELECT count(*) FROM c77_secure_db_operation_audit WHERE user_name = 'recent_writer'") == "4")
        #expect(try harness.sql("SELECT count(*) FROM c77_secure_db_operation_audit WHERE created_at < now() - interval '30 days'") == "0")
        #expect(try harness.sql("SELECT string_agg(session_id, ',') FROM c77_secure_db_auth_tokens") == "live")

        // Every batch (10, 10, 5) left its own audit record, by the daemon's login.
        let purges = try harness.sql("""
            SELECT user_name || ':' || success || ':' || (details ->> 'deleted_count')
            FROM c77_secure_db_operation_audit WHERE operation_type = 'purge_audit' ORDER BY id
            """)
        #expect(purges.split(separator: "\n") == ["c77_monitor:true:10", "c77_monitor:true:10", "c77_monitor:true:5"], "\(purges)")

        // The status shows the run too.
        guard case .success(let status) = try harness.send(ControlRequest(cmd: "status")) else {
            Issue.record("status failed")
            return
        }
        let job = status["jobs"]?.arrayValue?.first { $0["name"]?.stringValue == "retention" }
        #expect(job?["last_run"]?["figures"]?["audit_rows_purged"]?.intValue == 25, "\(String(describing: job))")
    }

    @Test func retentionWithoutThePurgeGrantFailsLoudly() throws {
        let harness = try DaemonHarness()
        try harness.sql("""
            INSERT INTO c77_secure_db_operation_audit (operation_id, operation_type, success, user_name, created_at)
            SELECT gen_random_uuid(), 'insert', true, 'old_writer', now() - interval '40 days' FROM generate_series(1, 3);
            """)
        try harness.writeConfig(harness.config("""
            [job.retention]
            enabled = true
            schedule = 30 2 * * *
            audit_max_age = 30d
            """))
        let journal = JournalRecorder(harness.journal)
        defer { journal.stop() }
        try harness.start()
        defer { harness.stop() }
        _ = try harness.send(ControlRequest(cmd: "run", args: ["job": "retention"]))
        let run = try harness.waitForRun("retention", after: 0)
        #expect(run["outcome"]?.stringValue == "failed", "\(run)")
        #expect(run["error"]?.stringValue?.contains("c77_secure_db_purge_audit") == true, "\(run)")
        try journal.sync()
        let failed = journal.alerts().first { $0["C77_ALERT_TYPE"] == "JOB_FAILED" && $0["C77_JOB"] == "retention" }
        #expect(failed != nil, "a JOB_FAILED alert names the retention job")
        #expect(try harness.sql("SELECT count(*) FROM c77_secure_db_operation_audit WHERE user_name = 'old_writer'") == "3")
    }
}
