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
        #expect(gate.admitEvent(alert("a"), now: start))
        #expect(!gate.admitEvent(alert("a"), now: start.addingTimeInterval(59)))
        #expect(gate.admitEvent(alert("b"), now: start.addingTimeInterval(1)))
        #expect(gate.admitEvent(alert("a"), now: start.addingTimeInterval(61)))
    }

    @Test func conditionsRepeatEveryRepeatIntervalAndResolveOnce() {
        var gate = AlertGate(dedupWindow: .seconds(60), repeatInterval: .seconds(600))
        #expect(gate.admitCondition(alert("c"), now: start))
        #expect(!gate.admitCondition(alert("c"), now: start.addingTimeInterval(300)))
        #expect(gate.firingConditions.count == 1)
        #expect(gate.admitCondition(alert("c"), now: start.addingTimeInterval(601)))
        #expect(gate.clear(fingerprint: "c") != nil)
        #expect(gate.clear(fingerprint: "c") == nil)
        #expect(gate.firingConditions.isEmpty)
        #expect(gate.admitCondition(alert("c"), now: start.addingTimeInterval(602)))
    }

    @Test func clearingSomethingThatNeverFiredSendsNothing() {
        var gate = AlertGate(dedupWindow: .seconds(60), repeatInterval: .seconds(600))
        #expect(gate.clear(fingerprint: "never") == nil)
    }
}
