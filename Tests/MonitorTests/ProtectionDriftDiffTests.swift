@testable import Monitor
import Testing

/// How the drift check tells one extension object's change from another's.
struct ProtectionDriftDiffTests {
    let before: [String: [String: String]] = [
        "function f()": ["body": "b1", "security": "definer", "owner": "postgres", "extension_member": "yes"],
        "function g()": ["body": "b2", "security": "definer", "owner": "postgres", "extension_member": "yes"],
        "event trigger t": ["event": "sql_drop", "function": "h()", "owner": "postgres", "extension_member": "yes"],
    ]

    @Test func unchangedObjectsAreNoChange() {
        #expect(ProtectionDriftCheck.objectChanges(from: before, to: before).isEmpty)
    }

    @Test func eachChangedObjectIsNamedWithWhatChanged() {
        var now = before
        now["function f()"]?["security"] = "invoker"
        now["function f()"]?["body"] = "b9"
        now["function g()"] = nil
        now["function c77_secure_db_evil()"] = ["body": "x", "security": "definer", "owner": "mallory", "extension_member": "no"]
        let changes = ProtectionDriftCheck.objectChanges(from: before, to: now)
        #expect(changes.map(\.object) == ["function c77_secure_db_evil()", "function f()", "function g()"])
        #expect(changes.map(\.problem) == ["added", "altered", "dropped or detached from the extension"])
        #expect(changes[1].summary == "altered (body changed, security: definer → invoker)")
        #expect(changes[1].attributes["security"]?.expected == "definer")
        #expect(changes[1].attributes["security"]?.found == "invoker")
    }

    @Test func aDetachedObjectIsAnAlteration() {
        var now = before
        now["event trigger t"]?["extension_member"] = "no"
        let changes = ProtectionDriftCheck.objectChanges(from: before, to: now)
        #expect(changes.count == 1)
        #expect(changes.first?.summary == "altered (extension_member: yes → no)")
    }
}
