import ControlSocket
import Foundation
import Glibc
import LocalReceivers
import Postgres
import Testing

/// A rogue superuser's change found by the verification job, delivered to every sink: a real
/// LISTEN connection, a journald stand-in socket, and a real HTTP receiver that checks the
/// Standard Webhooks signature.
@Suite(.serialized) struct AlertDeliveryTests {
    static let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

    func setUp(_ harness: DaemonHarness, receiver: WebhookReceiver) throws {
        let secretFile = harness.directory + "/webhook.secret"
        try Self.secret.write(toFile: secretFile, atomically: true, encoding: .utf8)
        try harness.writeConfig(harness.config("""
            [job.hash_verification]
            interval = 1h
            batch_size = 100
            concurrency = 2

            [job.health_check]
            interval = 1h

            [job.table_digest]
            # one alert per tampered row here (hash_verification's), and no more than the
            # journal stand-in's queue holds unread
            enabled = false

            [sink.notify]
            channel = c77_alerts

            [sink.webhook]
            url = \(receiver.url)
            secret_file = \(secretFile)
            min_severity = info
            timeout = 2s
            """))
        try harness.cluster.psql("""
            SELECT c77_secure_db_operation(jsonb_build_object('schema_name', 'shop', 'table_name', 'orders', 'operation', 'insert',
                'data', jsonb_build_object('customer', 'Customer ' || i, 'amount', i))) FROM generate_series(1, 500) i;
            """, database: harness.database)
    }

    @Test func tamperingReachesEverySinkSigned() async throws {
        let harness = try DaemonHarness()
        let receiver = try WebhookReceiver(secret: Self.secret)
        try setUp(harness, receiver: receiver)
        let listener = try await PostgresConnection.connect(
            .init(conninfo: harness.cluster.conninfo(database: harness.database)), logger: .init(label: "test"))
        defer { listener.close() }
        try await listener.listen("c77_alerts")

        try harness.start()
        defer { harness.stop() }
        // The first pass at start-up finds nothing.
        #expect(eventually(timeout: .seconds(20)) { harness.lastOutcome("hash_verification") == "success" }, "log:\n\(harness.log())")

        // The rogue superuser: triggers bypassed, a row changed, its hash left alone.
        try harness.cluster.psql("""
            SET session_replication_role = replica;
            UPDATE shop.orders SET amount = 1000000 WHERE id = 42;
            """, database: harness.database)
        guard case .success = try harness.send(ControlRequest(cmd: "run", args: ["job": "hash_verification"])) else {
            Issue.record("run refused")
            return
        }

        // Webhook: signed, the native body names the row.
        #expect(eventually(timeout: .seconds(20)) {
            receiver.deliveries.contains { $0.bodyText.contains("DATA_TAMPERING") }
        }, "log:\n\(harness.log())")
        let delivery = try #require(receiver.deliveries.first { $0.bodyText.contains("DATA_TAMPERING") })
        #expect(delivery.signatureValid == true)
        let body = try JSONDecoder().decode(JSONValue.self, from: delivery.body)
        #expect(body["type"] == "DATA_TAMPERING")
        #expect(body["severity"] == "critical")
        #expect(body["schema"] == "shop")
        #expect(body["table"] == "orders")
        #expect(body["record_id"] == "42")
        #expect(body["details"]?["stored_hash"]?.stringValue?.count == 64)
        #expect(delivery.id == body["id"]?.stringValue, "webhook-id is the alert id")

        // LISTEN: the same alert as JSON.
        var iterator = listener.notifications.makeAsyncIterator()
        var notified: JSONValue?
        while notified == nil, let notification = await iterator.next() {
            let payload = try JSONDecoder().decode(JSONValue.self, from: Data(notification.payload.utf8))
            if payload["type"] == "DATA_TAMPERING" { notified = payload }
        }
        #expect(notified?["record_id"] == "42")

        // journald: a structured entry.
        let entry = harness.journal.receive(until: { String(decoding: $0, as: UTF8.self).contains("C77_ALERT_TYPE=DATA_TAMPERING") },
                                            timeout: .seconds(5)).map(JournalEntryParser.parse)
        #expect(entry?["PRIORITY"] == "2")
        #expect(entry?["C77_RECORD_ID"] == "42")
        #expect(entry?["C77_TABLE"] == "orders")

        // Status and the CLI show it.
        let alerts = try DaemonHarness.run(DaemonHarness.ctlPath, ["alerts", "--socket", harness.socketPath])
        #expect(alerts.output.contains("DATA_TAMPERING"))
    }

    @Test func alertsSurviveAReceiverOutageAndADaemonCrash() async throws {
        let harness = try DaemonHarness()
        let receiver = try WebhookReceiver(secret: Self.secret)
        var behaviour = WebhookReceiver.Behaviour()
        behaviour.status = 503
        receiver.setBehaviour(behaviour)
        try setUp(harness, receiver: receiver)
        try harness.start()
        #expect(eventually(timeout: .seconds(20)) { harness.lastOutcome("hash_verification") == "success" })
        try harness.cluster.psql("SET session_replication_role = replica; UPDATE shop.orders SET amount = 7777 WHERE id = 7;",
                                 database: harness.database)
        _ = try harness.send(ControlRequest(cmd: "run", args: ["job": "hash_verification"]))
        #expect(eventually(timeout: .seconds(20)) { receiver.deliveries.contains { $0.status == 503 } })

        // The daemon dies with the alert in its spool.
        harness.signal(SIGKILL)
        harness.process?.waitUntilExit()
        let spooled = try FileManager.default.contentsOfDirectory(atPath: harness.stateDirectory + "/spool").filter { $0.hasSuffix(".json") }
        #expect(spooled.count >= 1, "the alert was spooled before the first attempt")

        // The receiver recovers; a restarted daemon delivers the spooled alert with the same id.
        receiver.setBehaviour(WebhookReceiver.Behaviour())
        try harness.start()
        defer { harness.stop() }
        #expect(eventually(timeout: .seconds(30)) {
            receiver.deliveries.contains { $0.status == 200 && $0.bodyText.contains("\"record_id\":\"7\"") }
        }, "log:\n\(harness.log())")
        let attempts = receiver.deliveries.filter { $0.bodyText.contains("\"record_id\":\"7\"") }
        #expect(Set(attempts.compactMap(\.id)).count == 1, "redelivery keeps the webhook-id")
        #expect(attempts.filter { $0.status == 200 }.count == 1, "delivered once")
    }

    @Test func anUnreachableDatabaseStillAlertsTheOtherSinksAndResolves() async throws {
        let harness = try DaemonHarness()
        let receiver = try WebhookReceiver(secret: Self.secret)
        var slow = WebhookReceiver.Behaviour()
        slow.delay = .seconds(3)  // longer than the sink's 2 s timeout: the first attempts time out
        receiver.setBehaviour(slow)
        try setUp(harness, receiver: receiver)
        try harness.start()
        defer { harness.stop() }
        #expect(eventually(timeout: .seconds(20)) { harness.lastOutcome("health_check") == "success" })

        try harness.cluster.stop()
        _ = try harness.send(ControlRequest(cmd: "run", args: ["job": "health_check"]))
        let down = harness.journal.receive(until: {
            String(decoding: $0, as: UTF8.self).contains("C77_ALERT_TYPE=DATABASE_UNREACHABLE")
        }, timeout: .seconds(15)).map(JournalEntryParser.parse)
        #expect(down?["C77_STATUS"] == "firing", "log:\n\(harness.log())")
        #expect(down?["PRIORITY"] == "2")

        receiver.setBehaviour(WebhookReceiver.Behaviour())
        try harness.cluster.start()
        let up = harness.journal.receive(until: {
            let text = String(decoding: $0, as: UTF8.self)
            return text.contains("C77_ALERT_TYPE=DATABASE_UNREACHABLE") && text.contains("C77_STATUS=resolved")
        }, timeout: .seconds(20))
        #expect(up != nil, "a resolved notice once the database answers again; log:\n\(harness.log())")
        #expect(eventually(timeout: .seconds(30)) {
            receiver.deliveries.contains { $0.status == 200 && $0.bodyText.contains("DATABASE_UNREACHABLE") }
        }, "the webhook gets it despite timing out at first")
    }

    @Test func aGoneEndpointIsReportedThroughTheOtherSinks() async throws {
        let harness = try DaemonHarness()
        let receiver = try WebhookReceiver(secret: Self.secret)
        var gone = WebhookReceiver.Behaviour()
        gone.status = 410
        receiver.setBehaviour(gone)
        try setUp(harness, receiver: receiver)
        try harness.start()
        defer { harness.stop() }
        #expect(eventually(timeout: .seconds(20)) { harness.lastOutcome("hash_verification") == "success" })
        try harness.cluster.psql("SET session_replication_role = replica; UPDATE shop.orders SET amount = 4444 WHERE id = 4;",
                                 database: harness.database)
        _ = try harness.send(ControlRequest(cmd: "run", args: ["job": "hash_verification"]))
        let entry = harness.journal.receive(until: {
            String(decoding: $0, as: UTF8.self).contains("C77_ALERT_TYPE=ALERT_DELIVERY_FAILED")
        }, timeout: .seconds(20)).map(JournalEntryParser.parse)
        #expect(entry?["MESSAGE"]?.contains("410 Gone") == true, "log:\n\(harness.log())")
        let attempts = receiver.deliveries.count
        try await Task.sleep(for: .seconds(2))
        #expect(receiver.deliveries.count == attempts, "no more attempts against a gone endpoint")
        guard case .success(let status) = try harness.send(ControlRequest(cmd: "status")) else { return }
        let webhook = status["sinks"]?.arrayValue?.first { $0["name"] == "webhook" }
        #expect(webhook?["last_error"]?.stringValue?.contains("410") == true)
        #expect((webhook?["spooled"]?.intValue ?? 0) >= 1, "the alerts stay spooled")
    }
}
