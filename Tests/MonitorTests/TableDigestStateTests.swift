import Foundation
@testable import Monitor
import MonitorConfig
import Testing

/// The table digest job's bookkeeping: the row diff, which audited operations explain which
/// change, bucket digests as the extension computes them, and the kept leaves.
struct TableDigestStateTests {
    func leaf(_ key: String, _ digit: Character) -> RowLeaf {
        RowLeaf(key: key, digest: String(repeating: digit, count: 64))
    }

    @Test func theDiffNamesChangedVanishedAndAppearedRows() {
        let old = [leaf("1", "a"), leaf("2", "b"), leaf("3", "c")]
        let new = [leaf("1", "a"), leaf("3", "d"), leaf("4", "e")]
        #expect(RowChange.between(old, new) == [
            RowChange(key: "3", kind: .changed, before: String(repeating: "c", count: 64), after: String(repeating: "d", count: 64)),
            RowChange(key: "4", kind: .appeared, before: nil, after: String(repeating: "e", count: 64)),
            RowChange(key: "2", kind: .vanished, before: String(repeating: "b", count: 64), after: nil),
        ])
        #expect(RowChange.between(old, old).isEmpty)
    }

    @Test func keysAreComparedByteForByte() {
        // NFC and NFD "é": equal as Swift strings, two keys to PostgreSQL.
        let composed = "\u{E9}", decomposed = "e\u{301}"
        let old = [leaf(composed, "a"), leaf(decomposed, "b")]
        let new = [leaf(composed, "a")]
        let changes = RowChange.between(old, new)
        #expect(changes.count == 1 && changes.first?.kind == .vanished, "\(changes)")
        #expect(changes.first.map { Array($0.key.utf8) } == Array(decomposed.utf8))
    }

    @Test func onlyMatchingOperationsExplainAChange() {
        let appeared = RowChange(key: "1", kind: .appeared, before: nil, after: "x")
        let vanished = RowChange(key: "1", kind: .vanished, before: "x", after: nil)
        let changed = RowChange(key: "1", kind: .changed, before: "x", after: "y")
        #expect(appeared.isExplained(by: ["insert"], tableRehashed: false))
        #expect(appeared.isExplained(by: ["upsert"], tableRehashed: false))
        #expect(!appeared.isExplained(by: ["update", "delete"], tableRehashed: true), "a re-hash adds no rows")
        #expect(vanished.isExplained(by: ["delete"], tableRehashed: false))
        #expect(!vanished.isExplained(by: ["soft_delete", "update"], tableRehashed: true), "a soft delete keeps the row")
        #expect(changed.isExplained(by: ["soft_delete"], tableRehashed: false))
        #expect(changed.isExplained(by: ["fix_hash"], tableRehashed: false))
        #expect(changed.isExplained(by: [], tableRehashed: true))
        #expect(!changed.isExplained(by: [], tableRehashed: false))
        #expect(!changed.isExplained(by: ["delete"], tableRehashed: false), "a delete alone leaves no changed row")
    }

    /// Row digests and bucket digest of the same rows, from `c77_secure_db_row_digests()` and
    /// `c77_secure_db_bucket_digests()` on a live table.
    @Test func bucketDigestsAreTheExtensions() {
        let leaves = [
            "c589d58a39541432f2634803de2d46df115982ff0adab7a5873cee5ff92433f8",
            "3fcec0ffb380589928d12c10f6bc7a49039fd0a6c20d3025ee5b78e462396942",
            "4eaef8495f55dc925b2c43aa1d87096245e92924fd73e8e88f6aeb72a1f28752",
            "0abb88b5cf9a348d24f4568230568fa9ee81b0161ff302c5f4b59df753959316",
        ].enumerated().map { RowLeaf(key: String($0.offset + 4), digest: $0.element) }
        #expect(DigestBucket.digest(of: leaves) == "f98bfdba78b20704d571c29bbf008c782d2630cfda727e4e7327f3942c4d35ef")
        #expect(DigestBucket.digest(of: []) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    @Test func theRootCoversEveryBucketAndTheAuditHead() {
        let bucket = DigestBucket(until: "4", count: 4, digest: String(repeating: "a", count: 64), leaves: String(repeating: "b", count: 64))
        let state = TableDigestState(table: SecureTable(schema: "shop", table: "orders"), auditSeq: 7,
                                     buckets: [bucket, DigestBucket(until: nil, count: 0, digest: "d", leaves: "l")])
        var roots: Set<String> = [state.root]
        var other = state
        other.auditSeq = 6
        roots.insert(other.root)
        other = state
        other.buckets[0].until = "5"
        roots.insert(other.root)
        other = state
        other.buckets[1].count = 1
        roots.insert(other.root)
        other = state
        other.table = SecureTable(schema: "shop", table: "order")
        roots.insert(other.root)
        #expect(roots.count == 5)
        #expect(state.bounds(0..<2) == [nil, "4", nil])
        #expect(state.bounds(1..<2) == ["4", nil])
    }

    @Test func leavesRoundTripAndEditsAreFound() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("c77-leaves-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = TableDigestStore(stateDirectory: directory)
        let leaves = [leaf("a\\b", "1"), leaf("line\nbreak\r", "2"), leaf("", "3"), leaf("ünï cödé", "4")]
        let name = try store.writeLeaves(leaves)
        let bucket = DigestBucket(until: nil, count: leaves.count, digest: DigestBucket.digest(of: leaves), leaves: name)
        #expect(try store.leaves(of: bucket) == leaves)
        let mode = try FileManager.default.attributesOfItem(atPath: store.directory)[.posixPermissions] as? NSNumber
        #expect(mode?.intValue == 0o700)

        let path = store.leavesDirectory + "/" + name
        try Data("x".utf8).write(to: URL(fileURLWithPath: path))
        #expect(throws: TableDigestStore.Damaged.self) { try store.leaves(of: bucket) }
        try FileManager.default.removeItem(atPath: path)
        #expect(throws: TableDigestStore.Damaged.self, "missing") { try store.leaves(of: bucket) }
        #expect(try store.writeLeaves(leaves) == name)
        var wrongCount = bucket
        wrongCount.count = 3
        #expect(throws: TableDigestStore.Damaged.self, "not its bucket's") { try store.leaves(of: wrongCount) }
        store.removeLeaves(keeping: [])
        #expect(try FileManager.default.contentsOfDirectory(atPath: store.leavesDirectory).isEmpty)
    }

    @Test func boundsAreQuotedArrayElements() {
        #expect(TableDigestPass.arrayLiteral([nil, "1", #"a"b\c"#, "x,y", nil]) == #"{NULL,"1","a\"b\\c","x,y",NULL}"#)
    }
}
