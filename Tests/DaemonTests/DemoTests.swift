import Foundation
import Testing

/// The README's first command works end to end and cleans up after itself.
@Suite(.serialized) struct DemoTests {
    @Test func theDemoFindsTheTamperedRowAndCleansUp() throws {
        let before = Set((try? FileManager.default.contentsOfDirectory(atPath: "/tmp")) ?? []).filter { $0.hasPrefix("c77demo") }
        let result = try DaemonHarness.run(DaemonHarness.daemonPath, ["demo"])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("a direct UPDATE is refused: Direct modifications not allowed on secure table shop.orders"))
        #expect(result.output.contains("1 mismatch(es)"))
        #expect(result.output.contains("signature verified"))
        #expect(result.output.contains("LISTEN:   NOTIFY c77_secure_db_alerts"))
        #expect(result.output.contains("C77_ALERT_TYPE=DATA_TAMPERING C77_TABLE=orders C77_RECORD_ID=42"))
        #expect(result.output.contains("Row 42 of shop.orders does not match its content hash"))
        let after = Set((try? FileManager.default.contentsOfDirectory(atPath: "/tmp")) ?? []).filter { $0.hasPrefix("c77demo") }
        #expect(after.subtracting(before).isEmpty, "the demo removes its cluster")
    }
}
