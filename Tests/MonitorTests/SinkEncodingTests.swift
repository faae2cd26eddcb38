import ControlSocket
import Foundation
import Testing
@testable import Monitor

@Suite struct SinkEncodingTests {
    @Test func signaturesMatchTheStandardWebhooksVector() throws {
        let signer = try WebhookSigner(secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
        let signature = signer.signature(id: "msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp: 1_614_265_330,
                                         body: Data(#"{"test": 2432232314}"#.utf8))
        #expect(signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
    }

    @Test func malformedSecretsAreRefused() {
        #expect(throws: WebhookSigner.InvalidSecret.self) { try WebhookSigner(secret: "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw") }
        #expect(throws: WebhookSigner.InvalidSecret.self) { try WebhookSigner(secret: "whsec_***") }
        #expect(throws: WebhookSigner.InvalidSecret.self) { try WebhookSigner(secret: "whsec_") }
    }

    @Test func notifyPayloadsAlwaysFitAndSayTheyWereTruncated() throws {
        let small = Alert(type: .dataTampering, severity: .critical, summary: "row 7 changed", schema: "shop", table: "orders", recordID: "7")
        #expect(NotifyPayload.encode(small).contains("row 7 changed"))

        let keys = (0..<2000).map { JSONValue.string("key-\($0)") }
        let big = Alert(type: .dataTampering, severity: .critical, summary: "flood", details: ["keys": .array(keys)])
        let payload = NotifyPayload.encode(big)
        #expect(payload.utf8.count <= 7999)
        let decoded = try JSONDecoder().decode(JSONValue.self, from: Data(payload.utf8))
        #expect(decoded["details"]?["truncated"] == .bool(true))
        #expect(decoded["summary"]?.stringValue == "flood")

        let huge = Alert(type: .dataTampering, severity: .critical, summary: String(repeating: "é", count: 10_000))
        let cut = NotifyPayload.encode(huge)
        #expect(cut.utf8.count <= 7999)
        #expect(cut.contains("[truncated]"))
    }

    @Test func alertsCarryTheDetectionTimeToTheMicrosecond() throws {
        let detected = Date(timeIntervalSince1970: 1_800_000_123.456789)
        let alert = Alert(type: .dataTampering, severity: .critical, summary: "row 7 changed", recordID: "7", createdAt: detected)
        let json = try JSONDecoder().decode(JSONValue.self, from: WebhookPayload.native(alert))
        #expect(json["detected_at"] == "2027-01-15T08:02:03.456789Z")
        #expect(json["created_at"] == "2027-01-15T08:02:03Z")
        #expect(json["job"] == nil)

        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        let decoded = try decoder.decode(Alert.self, from: WebhookPayload.native(alert))
        #expect(abs(decoded.createdAt.timeIntervalSince(detected)) < 0.000_001)
        #expect(decoded.recordID == "7")
        #expect(DetectionTimestamp.string(from: Date(timeIntervalSince1970: 0)) == "1970-01-01T00:00:00.000000Z")
    }

    @Test func retryAfterAcceptsSecondsAndHTTPDates() {
        #expect(RetryPolicy.parseRetryAfter("120") == .seconds(120))
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        #expect(RetryPolicy.parseRetryAfter("Fri, 15 Jan 2027 08:00:30 GMT", now: now) == .seconds(30))
        #expect(RetryPolicy.parseRetryAfter("soon") == nil)
        #expect(RetryPolicy.parseRetryAfter(nil) == nil)
    }

    @Test func backoffGrowsIsCappedAndHonoursRetryAfter() {
        let policy = RetryPolicy(initialDelay: .seconds(1), maxDelay: .seconds(8))
        for _ in 0..<20 {
            let first = policy.delay(afterAttempt: 1)
            #expect(first >= .milliseconds(500) && first <= .seconds(1))
            let tenth = policy.delay(afterAttempt: 10)
            #expect(tenth >= .seconds(4) && tenth <= .seconds(8))
            #expect(policy.delay(afterAttempt: 1, retryAfter: .seconds(30)) == .seconds(30))
        }
    }

    @Test func journalFieldsCarryTheAlert() {
        let alert = Alert(type: .dataTampering, severity: .critical, summary: "row changed", job: "hash_verification",
                          schema: "shop", table: "orders", recordID: "42", details: ["stored_hash": "ab"])
        let fields = Dictionary(JournaldSink.fields(for: alert), uniquingKeysWith: { first, _ in first })
        #expect(fields["PRIORITY"] == "2")
        #expect(fields["C77_ALERT_TYPE"] == "DATA_TAMPERING")
        #expect(fields["C77_RECORD_ID"] == "42")
        #expect(fields["C77_TABLE"] == "orders")
        #expect(fields["SYSLOG_IDENTIFIER"] == "c77-secure-dbd")
        #expect(fields["MESSAGE_ID"]?.count == 32)
        #expect(JournaldSink.messageID(for: .dataTampering) == JournaldSink.messageID(for: .dataTampering))
        #expect(JournaldSink.messageID(for: .dataTampering) != JournaldSink.messageID(for: .jobFailed))
    }

    @Test func alertmanagerBodiesUseItsShape() throws {
        let alert = Alert(type: .highErrorRate, severity: .warning, summary: "too many errors")
        let body = try JSONDecoder().decode(JSONValue.self, from: WebhookPayload.alertmanager(alert))
        #expect(body["version"] == "4")
        #expect(body["status"] == "firing")
        #expect(body["alerts"]?[0]?["labels"]?["alertname"] == "HIGH_ERROR_RATE")
        #expect(body["alerts"]?[0]?["annotations"]?["summary"] == "too many errors")
    }
}

@Suite struct WebhookSpoolTests {
    @Test func entriesSurviveAReopenInOrderAndLeaveWhenDeliveredOrDeadLettered() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("spool-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let spool = try WebhookSpool(directory: directory)
        let first = try spool.append(id: "a1", body: #"{"n":1}"#)
        let second = try spool.append(id: "b2", body: #"{"n":2}"#)
        let third = try spool.append(id: "c3", body: #"{"n":3}"#)

        let reopened = try WebhookSpool(directory: directory)
        #expect(reopened.pending().map(\.id) == ["a1", "b2", "c3"])
        reopened.remove(first)
        reopened.deadLetter(second)
        #expect(reopened.pending() == [third])
        #expect(FileManager.default.fileExists(atPath: "\(directory)/failed/\(second.file)"))
    }

    @Test func unreadableFilesAreSetAside() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("spool-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let spool = try WebhookSpool(directory: directory)
        try Data("garbage".utf8).write(to: URL(fileURLWithPath: "\(directory)/0000-x.json"))
        #expect(spool.pending().isEmpty)
        #expect(FileManager.default.fileExists(atPath: "\(directory)/failed/0000-x.json"))
    }
}
