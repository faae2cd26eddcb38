import Foundation
import MonitorConfig
import Testing

/// The sample configuration users copy, and the defaults it documents.
@Suite struct SampleConfigurationTests {
    static let samplePath: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.appendingPathComponent("etc/c77-secure-db/c77-secure-dbd.ini").path
    }()

    @Test func theSampleLoads() throws {
        let configuration = try DaemonConfiguration.load(path: Self.samplePath)
        #expect(configuration.database.conninfo == "dbname=postgres user=c77_monitor")
        #expect(configuration.webhookSink == nil)
    }

    /// Every key is documented commented out with its default: uncommenting all of them
    /// (and the webhook section) must give the same configuration as leaving them out.
    @Test func everyDocumentedDefaultIsTheRealDefault() throws {
        let text = try String(contentsOfFile: Self.samplePath, encoding: .utf8)
        let uncommented = text.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            let body = line.drop(while: { $0 == "#" })
            let isKey = line.hasPrefix("#") && body.first?.isLetter == true && body.contains(" = ")
                && body.prefix(while: { $0 != " " }).allSatisfy { $0.isLetter || $0 == "_" }
            let isSection = line.hasPrefix("#[") && line.hasSuffix("]")
            return isKey || isSection ? String(line.dropFirst()) : String(line)
        }.joined(separator: "\n")
        var expected = try DaemonConfiguration.parse(text: text, file: "sample")
        let all = try DaemonConfiguration.parse(text: uncommented, file: "uncommented")
        #expect(all.webhookSink?.url.absoluteString == "https://alerts.example.com/c77")
        expected.webhookSink = all.webhookSink
        #expect(all == expected)
    }

    @Test func defaultsMatchTheDocuments() throws {
        let configuration = try DaemonConfiguration.parse(text: "[database]\nconninfo =\n", file: "min.ini")
        #expect(configuration.database.conninfo == "")
        #expect(configuration.daemon.socket == "/run/c77-secure-db/c77-secure-dbd.sock")
        #expect(configuration.daemon.socketMode == 0o660)
        #expect(configuration.healthCheck.errorRateThreshold == 5)
        #expect(configuration.healthCheck.activeTokensThreshold == 100)
        #expect(configuration.healthCheck.job.schedule == .interval(.seconds(900)))
        #expect(configuration.anomalyDetection.errorThreshold == 10)
        #expect(configuration.anomalyDetection.volumeThreshold == 100)
        #expect(configuration.anomalyDetection.offHoursThreshold == 5)
        #expect(configuration.anomalyDetection.businessHours == BusinessHours(start: 8 * 60, end: 18 * 60 + 59))
        #expect(configuration.hashVerification.fixMismatches == false)
        #expect(configuration.retention.job.enabled == false)
        #expect(configuration.auditChain.job.enabled == true)
        #expect(configuration.auditChain.job.schedule == .interval(.seconds(60)))
        #expect(configuration.auditChain.batchSize == 10_000)
        #expect(configuration.auditChain.fullVerificationInterval == .seconds(86_400))
        #expect(configuration.tableDigest.job.enabled == true)
        #expect(configuration.tableDigest.job.schedule == .interval(.seconds(3600)))
        #expect(configuration.tableDigest.tables == nil)
        #expect(configuration.tableDigest.bucketRows == 10_000)
        #expect(configuration.tableDigest.alertFloodThreshold == 10)
        #expect(configuration.notifySink.channel == "c77_secure_db_alerts")
    }

    @Test func theTableDigestSectionReadsItsKeys() throws {
        let configuration = try DaemonConfiguration.parse(text: """
            [database]
            conninfo =
            [job.table_digest]
            enabled = false
            interval = 30m
            tables = shop.orders, shop.customers
            bucket_rows = 500
            alert_flood_threshold = 3
            """, file: "digest.ini")
        let digest = configuration.tableDigest
        #expect(digest.job.enabled == false)
        #expect(digest.job.schedule == .interval(.seconds(1800)))
        #expect(digest.tables == [SecureTable(schema: "shop", table: "orders"), SecureTable(schema: "shop", table: "customers")])
        #expect(digest.bucketRows == 500)
        #expect(digest.alertFloodThreshold == 3)
    }
}

/// Malformed files: every error names the file, the line and the key.
@Suite struct ConfigurationErrorTests {
    func error(_ text: String) -> ConfigError? {
        do {
            _ = try DaemonConfiguration.parse(text: text, file: "c.ini")
            return nil
        } catch {
            return error
        }
    }

    @Test(arguments: [
        ("[database]\nconninfo = x\n[nope]\n", "c.ini:3: unknown section [nope]"),
        ("[database]\nconninfo = x\nhost = y\n", "c.ini:3: [database] unknown key 'host'"),
        ("conninfo = x\n", "c.ini:1: key 'conninfo' appears before any [section]"),
        ("[database]\nconninfo = x\nconninfo = y\n", "c.ini:3: [database] conninfo is set twice"),
        ("[database]\nconninfo = x\n[database]\n", "c.ini:3: section [database] appears twice"),
        ("[database]\nconninfo = x\njust words\n", "c.ini:3: expected 'key = value', '[section]' or a comment: just words"),
        ("[database]\nconninfo = x\n[daemon\n", "c.ini:3: section header must end with ']': [daemon"),
        ("[daemon]\nlog_level = info\n", "c.ini:0: [database] conninfo is required (an empty value means PG* environment variables)"),
        ("[database]\nconninfo = x\nconnect_timeout = 10\n", "c.ini:3: [database] connect_timeout: '10' needs a unit: ms, s, m, h or d (e.g. 10s)"),
        ("[database]\nconninfo = x\n[job.health_check]\ninterval = 15 minutes\n", "c.ini:4: [job.health_check] interval: '15 minutes' is not a duration (expected e.g. 30s, 15m, 24h, 7d or 1h30m)"),
        ("[database]\nconninfo = x\n[job.health_check]\ninterval = 1m\nschedule = * * * * *\n", "c.ini:5: [job.health_check] set either interval or schedule, not both"),
        ("[database]\nconninfo = x\n[job.token_cleanup]\nschedule = 61 * * * *\n", "c.ini:4: [job.token_cleanup] schedule: minute field: 61 is outside 0-59"),
        ("[database]\nconninfo = x\n[job.hash_verification]\nconcurrency = 0\n", "c.ini:4: [job.hash_verification] concurrency: 0 is out of range (1...16)"),
        ("[database]\nconninfo = x\n[alerts]\nmin_severity = loud\n", "c.ini:4: [alerts] min_severity: 'loud' is not a severity (info, warning, high or critical)"),
        ("[database]\nconninfo = x\n[sink.notify]\nchannel = bad-name\n", "c.ini:4: [sink.notify] channel: 'bad-name' is not a channel name (letters, digits and _, at most 63 bytes)"),
        ("[database]\nconninfo = x\n[sink.webhook]\nformat = native\n", "c.ini:3: [sink.webhook] url is required"),
        ("[database]\nconninfo = x\n[sink.webhook]\nurl = ftp://x\n", "c.ini:4: [sink.webhook] url: 'ftp://x' is not an http:// or https:// URL"),
        ("[database]\nconninfo = x\n[job.anomaly_detection]\ntimezone = Mars/Base\n", "c.ini:4: [job.anomaly_detection] timezone: 'Mars/Base' is not a time zone name (e.g. UTC or Europe/Berlin)"),
        ("[database]\nconninfo = x\n[job.anomaly_detection]\nbusiness_hours = 9-5\n", "c.ini:4: [job.anomaly_detection] business_hours: '9-5' is not a time range such as 08:00-18:59"),
        ("[database]\nconninfo = x\n[daemon]\nsocket_mode = 660\n", "c.ini:4: [daemon] socket_mode: '660' is not an octal file mode such as 0660"),
        ("[database]\nconninfo = x\n[job.table_digest]\nbucket_rows = 0\n", "c.ini:4: [job.table_digest] bucket_rows: 0 is out of range (1...1000000)"),
        ("[database]\nconninfo = x\n[job.table_digest]\ntables = orders\n", "c.ini:4: [job.table_digest] tables: 'orders' is not schema.table"),
        ("[database]\nconninfo = x\n[job.retention]\nenabled = maybe\n", "c.ini:4: [job.retention] enabled: 'maybe' is not a boolean (use true or false)"),
    ])
    func malformedInput(text: String, message: String) {
        #expect(error(text)?.description.hasPrefix(message) == true, "\(String(describing: error(text)))")
    }

    @Test func quotedAndEmptyValues() throws {
        let configuration = try DaemonConfiguration.parse(text: """
            # comment
            ; another
            [database]
            conninfo = "host=/tmp dbname=a#b"
            password_file =

            [daemon]
            socket_group =
            """, file: "q.ini")
        #expect(configuration.database.conninfo == "host=/tmp dbname=a#b")
        #expect(configuration.database.passwordFile == nil)
        #expect(configuration.daemon.socketGroup == nil)
    }

    @Test func aMissingFileIsAnError() {
        #expect(throws: ConfigError.self) { try DaemonConfiguration.load(path: "/nonexistent/c77.ini") }
    }
}

@Suite struct ValueTests {
    @Test(arguments: [("500ms", 500), ("30s", 30_000), ("15m", 900_000), ("12h", 43_200_000), ("7d", 604_800_000), ("1h30m", 5_400_000)])
    func durations(text: String, milliseconds: Int64) throws {
        let duration = try DaemonConfiguration.parse(text: "[database]\nconninfo=\nconnect_timeout = \(text)\n", file: "d").database.connectTimeout
        #expect(duration == .milliseconds(milliseconds))
        #expect(duration.humanReadable == text)
    }

    @Test func severitiesAreOrdered() {
        #expect(Severity.info < .warning && Severity.warning < .high && Severity.high < .critical)
    }

    @Test func businessHoursWrapPastMidnight() {
        let night = BusinessHours(start: 22 * 60, end: 6 * 60)
        #expect(night.contains(23 * 60) && night.contains(5 * 60) && !night.contains(12 * 60))
        #expect(BusinessHours(start: 480, end: 1139).description == "08:00-18:59")
    }
}

@Suite struct CronTests {
    let utc = TimeZone(identifier: "UTC")!
    func date(_ text: String, _ zone: TimeZone? = nil) -> Date {
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = zone ?? utc
        formatter.formatOptions = [.withFullDate, .withTime, .withColonSeparatorInTime, .withDashSeparatorInDate]
        return formatter.date(from: text)!
    }

    @Test(arguments: [
        ("*/15 * * * *", "2026-01-15T10:07:00", "2026-01-15T10:15:00"),
        ("0 1 * * *", "2026-01-15T10:07:00", "2026-01-16T01:00:00"),
        ("0 3 * * 0", "2026-01-15T10:07:00", "2026-01-18T03:00:00"),
        ("0 3 * * sun", "2026-01-15T10:07:00", "2026-01-18T03:00:00"),
        ("0 3 * * 7", "2026-01-15T10:07:00", "2026-01-18T03:00:00"),
        ("30 2 1 * *", "2026-01-15T10:07:00", "2026-02-01T02:30:00"),
        ("0 0 29 feb *", "2026-01-15T10:07:00", "2028-02-29T00:00:00"),
        ("0 0 31 * *", "2026-04-15T00:00:00", "2026-05-31T00:00:00"),
        ("1-10/3 * * * *", "2026-01-15T10:04:00", "2026-01-15T10:07:00"),
        ("0 12 13 * fri", "2026-01-15T10:07:00", "2026-01-16T12:00:00"),
        ("@hourly", "2026-01-15T10:07:00", "2026-01-15T11:00:00"),
        ("@daily", "2026-01-15T10:07:00", "2026-01-16T00:00:00"),
    ])
    func nextFireTimes(expression: String, after: String, expected: String) throws {
        let cron = try CronSchedule(parsing: expression)
        #expect(cron.next(after: date(after), in: utc) == date(expected))
    }

    @Test func daylightSavingGapsAreSkippedAndRepeatsFireTwice() throws {
        let berlin = TimeZone(identifier: "Europe/Berlin")!
        // 2026-03-29: 02:00 → 03:00 in Berlin; 02:30 does not exist that day.
        let spring = try CronSchedule(parsing: "30 2 * * *")
        let next = spring.next(after: date("2026-03-28T12:00:00", berlin), in: berlin)
        #expect(next == date("2026-03-30T02:30:00", berlin))
        // 2026-10-25: 02:30 happens twice.
        let first = spring.next(after: date("2026-10-25T00:00:00", berlin), in: berlin)!
        let second = spring.next(after: first, in: berlin)!
        #expect(second.timeIntervalSince(first) == 3600)
    }

    @Test(arguments: ["* * * *", "60 * * * *", "* 24 * * *", "* * 0 * *", "* * * 13 *", "* * * * 8", "*/0 * * * *",
                      "5-1 * * * *", "a * * * *", "@sometimes", "1,,2 * * * *", "* * * foo *"])
    func malformedExpressions(expression: String) {
        #expect(throws: CronSchedule.ParseError.self) { try CronSchedule(parsing: expression) }
    }
}
