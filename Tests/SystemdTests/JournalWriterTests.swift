import Foundation
import LocalReceivers
import Logging
import Systemd
import Testing

/// journald's native protocol, sent to a datagram socket the test owns and parsed here.
@Suite struct JournalWriterTests {
    func listener() throws -> DatagramListener {
        try DatagramListener(path: "/tmp/c77-journal-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).sock")
    }

    @Test func fieldsArriveInTheNativeProtocol() throws {
        let socket = try listener()
        try JournalWriter(socketPath: socket.path).send([
            ("MESSAGE", "row 42 changed"), ("PRIORITY", "2"), ("c77_alert_type", "DATA_TAMPERING"),
            ("C77_DETAILS", "line one\nline two"), ("9bad-name", "x"),
        ])
        let entry = JournalEntryParser.parse(try #require(socket.receive(timeout: .seconds(2))))
        #expect(entry["MESSAGE"] == "row 42 changed")
        #expect(entry["PRIORITY"] == "2")
        #expect(entry["C77_ALERT_TYPE"] == "DATA_TAMPERING", "field names are upper-cased")
        #expect(entry["C77_DETAILS"] == "line one\nline two", "multi-line values use length framing")
        #expect(entry["F9BAD_NAME"] == "x", "invalid field names are normalized")
    }

    @Test func largeEntriesGoThroughAMemfd() throws {
        let socket = try listener()
        let big = String(repeating: "0123456789abcdef", count: 40_000)
        try JournalWriter(socketPath: socket.path).send([("MESSAGE", "big"), ("C77_DETAILS", big)])
        let data = try #require(socket.receive(timeout: .seconds(2)))
        #expect(data.count > 600_000, "received \(data.count) bytes")
        let entry = JournalEntryParser.parse(data)
        #expect(entry["MESSAGE"] == "big")
        #expect(entry["C77_DETAILS"]?.count == big.count)
        #expect(entry["C77_DETAILS"] == big, "content differs")
    }

    @Test func aReaderThatStopsReadingDoesNotStallTheWriter() throws {
        let socket = try listener()  // never read: its queue fills up
        let writer = JournalWriter(socketPath: socket.path, sendTimeout: .milliseconds(100))
        var failure: JournalError?
        for index in 0..<2_000 where failure == nil {
            do { try writer.send([("MESSAGE", "entry \(index)")]) } catch { failure = error }
        }
        let error = try #require(failure, "2000 entries fit in the queue of a socket nobody reads")
        #expect(error.code == .sendFailed, "a full queue fails the entry after the timeout: \(error)")
    }

    @Test func aMissingSocketIsReported() {
        #expect(throws: JournalError.self) {
            try JournalWriter(socketPath: "/tmp/c77-no-journal-\(getpid()).sock").send([("MESSAGE", "x")])
        }
    }

    @Test func theLogHandlerWritesStructuredEntries() throws {
        let socket = try listener()
        var logger = Logger(label: "c77-test") { label in
            JournalLogHandler(label: label, identifier: "c77-secure-dbd", level: .debug, writer: JournalWriter(socketPath: socket.path))
        }
        logger[metadataKey: "job"] = "hash_verification"
        logger.error("verification failed", metadata: ["table": "shop.orders"])
        let entry = JournalEntryParser.parse(try #require(socket.receive(timeout: .seconds(2))))
        #expect(entry["MESSAGE"] == "verification failed")
        #expect(entry["PRIORITY"] == "3")
        #expect(entry["SYSLOG_IDENTIFIER"] == "c77-secure-dbd")
        #expect(entry["JOB"] == "hash_verification")
        #expect(entry["TABLE"] == "shop.orders")
        #expect(entry["C77_LOGGER"] == "c77-test")
    }
}
