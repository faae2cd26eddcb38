import Crypto
import DigestLog
import Foundation
import Testing

/// The signed, append-only digest log: what it writes verifies with its public key alone, and
/// every kind of edit to an export is caught.
@Suite struct DigestLogTests {
    func freshLog() throws -> DigestLog {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("c77-digests-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return DigestLog(stateDirectory: directory)
    }

    func threeEntries(_ log: DigestLog) throws -> DigestExport {
        var last: DigestEntry?
        for seq in [5, 9, 12] {
            last = try log.append(auditHeadSeq: seq, auditHeadDigest: String(repeating: "ab", count: 32), after: last)
        }
        return try log.export()
    }

    @Test func whatItWritesVerifies() throws {
        let log = try freshLog()
        let export = try threeEntries(log)
        #expect(export.entries.map(\.seq) == [1, 2, 3])
        #expect(export.entries.first?.previous == DigestEntry.genesis)
        #expect(export.problems().isEmpty, "\(export.problems())")
        let attributes = try FileManager.default.attributesOfItem(atPath: log.keyPath)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600, "the private key is readable by its owner only")
        let roundTrip = try DigestExport.decoder.decode(DigestExport.self, from: DigestExport.encoder.encode(export))
        #expect(roundTrip.problems().isEmpty, "an exported file verifies after a round trip")
    }

    @Test func itIsExportedPageByPage() throws {
        let log = try freshLog()
        let whole = try threeEntries(log)
        let first = try log.exportPage(skipping: 0, limit: 2)
        #expect(first.export.entries.map(\.seq) == [1, 2] && first.more)
        let second = try log.exportPage(skipping: 2, limit: 2)
        #expect(second.export.entries.map(\.seq) == [3] && !second.more)
        #expect(second.export.publicKey == whole.publicKey)
        #expect(try log.exportPage(skipping: 3, limit: 2).export.entries.isEmpty)
    }

    @Test func aCheckReadsOnlyWhatWasAppendedSinceTheLastOne() throws {
        let log = try freshLog()
        _ = try threeEntries(log)
        let first = try log.verify(since: nil)
        #expect(first.problems.isEmpty && first.recent.map(\.seq) == [1, 2, 3])
        let known = try #require(first.verified)

        // Two more entries: the next check reads only those, chained to entry 3.
        var last = try log.lastEntry()
        #expect(last?.seq == 3)
        for seq in [14, 15] { last = try log.append(auditHeadSeq: seq, auditHeadDigest: String(repeating: "cd", count: 32), after: last) }
        let next = try log.verify(since: known)
        #expect(next.problems.isEmpty && next.recent.map(\.seq) == [1, 2, 3, 4, 5])
        let nextKnown = try #require(next.verified)

        // A same-length edit of an entry before the last one checked is only seen by a full check.
        var text = try String(contentsOfFile: log.path, encoding: .utf8)
        let range = try #require(text.range(of: "\"audit_head_seq\":5"))
        text.replaceSubrange(range, with: "\"audit_head_seq\":6")
        try text.write(toFile: log.path, atomically: true, encoding: .utf8)
        let cheap = try log.verify(since: nextKnown)
        #expect(cheap.problems.isEmpty, "not re-read: \(cheap.problems)")
        #expect(try log.verify(since: nil).problems == ["entry 1: the signature does not verify", "entry 2: does not link to entry 1"])

        // The last line checked changed: everything is read again.
        var lines = try String(contentsOfFile: log.path, encoding: .utf8).split(separator: "\n").map(String.init)
        lines[4] = lines[4].replacingOccurrences(of: "\"audit_head_seq\":15", with: "\"audit_head_seq\":16")
        try (lines.joined(separator: "\n") + "\n").write(toFile: log.path, atomically: true, encoding: .utf8)
        let reread = try log.verify(since: nextKnown)
        #expect(reread.problems.contains("entry 5: the signature does not verify"), "\(reread.problems)")
        #expect(reread.verified == nil, "a log with problems is checked in full next time")

        // A write cut short leaves a line without its end.
        let handle = try #require(FileHandle(forWritingAtPath: log.path))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("{\"seq\":6".utf8))
        try handle.close()
        #expect(throws: DigestLog.Failure.self) { try log.verify(since: nil) }
    }

    @Test func everyEditIsCaught() throws {
        let export = try threeEntries(try freshLog())

        var edited = export
        edited.entries[1].auditHeadSeq = 10
        #expect(edited.problems().contains("entry 2: the signature does not verify"))

        var dropped = export
        dropped.entries.remove(at: 1)
        #expect(dropped.problems().contains("entry 3: follows entry 1 (entries missing)"))
        #expect(dropped.problems().contains("entry 3: does not link to entry 1"))

        var headless = export
        headless.entries.removeFirst()
        #expect(headless.problems().first?.contains("does not start at entry 1") == true, "\(headless.problems())")

        var empty = export
        empty.entries = []
        #expect(empty.problems() == ["the log has no entries"])

        var overflow = export
        overflow.entries[0].seq = Int.max
        #expect(!overflow.problems().isEmpty, "huge numbers are problems, not crashes")

        var reordered = export
        reordered.entries.swapAt(1, 2)
        #expect(!reordered.problems().isEmpty)

        var foreign = export
        foreign.publicKey = Curve25519.Signing.PrivateKey().publicKey.rawRepresentation.base64EncodedString()
        #expect(foreign.problems().count == 3, "no entry verifies with another key")

        var forged = export
        let key = Curve25519.Signing.PrivateKey()
        forged.publicKey = key.publicKey.rawRepresentation.base64EncodedString()
        forged.entries[2].signature = try key.signature(for: Data(forged.entries[2].signedText.utf8)).base64EncodedString()
        #expect(forged.problems().contains("entry 1: the signature does not verify"), "re-signing one entry needs the key of all")
    }

    @Test func tableRootsAreSignedNextToAuditHeads() throws {
        let log = try freshLog()
        let first = try log.append(auditHeadSeq: 5, auditHeadDigest: String(repeating: "ab", count: 32), after: nil)
        #expect(first.signedText.hasPrefix("c77-secure-db digest 1\n"), "entries without table roots sign as before")
        let roots = ["shop.orders": String(repeating: "1", count: 64), "a\nb.c": String(repeating: "2", count: 64)]
        let second = try log.append(auditHeadSeq: 5, auditHeadDigest: first.auditHeadDigest, tableRoots: roots, after: first)
        #expect(second.signedText.hasSuffix("\n5:a\nb.c \(roots["a\nb.c"]!)\n11:shop.orders \(roots["shop.orders"]!)"), "\(second.signedText)")
        let export = try log.export()
        #expect(export.problems().isEmpty, "\(export.problems())")
        #expect(export.entries.latestTableRoots == roots)
        let roundTrip = try DigestExport.decoder.decode(DigestExport.self, from: DigestExport.encoder.encode(export))
        #expect(roundTrip == export)

        var edited = export
        edited.entries[1].tableRoots?["shop.orders"] = String(repeating: "3", count: 64)
        #expect(edited.problems() == ["entry 2: the signature does not verify"])
        var dropped = export
        dropped.entries[1].tableRoots = nil
        #expect(dropped.problems() == ["entry 2: the signature does not verify"], "the roots cannot be stripped either")
    }

    @Test func noNewKeyNextToAnExistingLog() throws {
        let log = try freshLog()
        _ = try threeEntries(log)
        try FileManager.default.removeItem(atPath: log.keyPath)
        #expect(throws: DigestLog.Failure.self) { try log.signingKey() }
    }

    @Test func aDamagedFileIsAnError() throws {
        let log = try freshLog()
        _ = try threeEntries(log)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log.path))
        handle.seekToEndOfFile()
        handle.write(Data("garbage\n".utf8))
        try handle.close()
        #expect(throws: DigestLog.Failure.self) { try log.entries() }
    }
}
