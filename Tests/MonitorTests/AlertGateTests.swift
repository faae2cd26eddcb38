import Foundation
import Testing
@testable import Monitor

@Suite struct AlertGateTests {
    let start = Date(timeIntervalSince1970: 1_800_000_000)

    func alert(_ fingerprint: String, at offset: TimeInterval = 0) -> Alert {
        Alert(type: .dataTampering, severity: .critical, summary: "s", fingerprint: fingerprint,
              createdAt: start.addingTimeInterval(offset))
    }

    @Test func eventsAreSuppressedWithinTheDedupWindowOnly() {
        var gate = AlertGate(dedupWindow: .seconds(60), repeatInterval: .seconds(3600))
        let r1 = gate.admitEvent(alert("a"), now: start)
        #expect(r1)
        let r2 = gate.admitEvent(alert("a"), now: start.addingTimeInterval(59))
        #expect(!r2)
        let r3 = gate.admitEvent(alert("b"), now: start.addingTimeInterval(1))
        #expect(r3)
        let r4 = gate.admitEvent(alert("a"), now: start.addingTimeInterval(61))
        #expect(r4)
    }

    @Test func conditionsRepeatEveryRepeatIntervalAndResolveOnce() {
        var gate = AlertGate(dedupWindow: .seconds(60), repeatInterval: .seconds(600))
        let r5 = gate.admitCondition(alert("c"), now: start)
        #expect(r5)
        let r6 = gate.admitCondition(alert("c"), now: start.addingTimeInterval(300))
        #expect(!r6)
        #expect(gate.firingConditions.count == 1)
        let r7 = gate.admitCondition(alert("c"), now: start.addingTimeInterval(601))
        #expect(r7)
        let r8 = gate.clear(fingerprint: "c")
        #expect(r8 != nil)
        let r9 = gate.clear(fingerprint: "c")
        #expect(r9 == nil)
        #expect(gate.firingConditions.isEmpty)
        let r10 = gate.admitCondition(alert("c"), now: start.addingTimeInterval(602))
        #expect(r10)
    }

    @Test func clearingSomethingThatNeverFiredSendsNothing() {
        var gate = AlertGate(dedupWindow: .seconds(60), repeatInterval: .seconds(600))
        let r11 = gate.clear(fingerprint: "never")
        #expect(r11 == nil)
    }
}
