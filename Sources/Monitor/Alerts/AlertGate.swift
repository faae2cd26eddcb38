import FoundationEssentials

/// De-duplication: decides which raised alerts go out, without I/O.
///
/// - An *event* (a tampered row, a failed check) with a fingerprint already sent within
///   `dedupWindow` is suppressed.
/// - A *condition* (error rate above threshold, database unreachable) is sent when it starts,
///   again every `repeatInterval` while it persists, and once more as `resolved` when it clears.
struct AlertGate: Sendable {
    var dedupWindow: Duration
    var repeatInterval: Duration

    private struct Entry: Sendable {
        var lastSent: Date
        var condition: Alert?
        var suppressed: Int
    }

    private var entries: [String: Entry] = [:]

    init(dedupWindow: Duration, repeatInterval: Duration) {
        self.dedupWindow = dedupWindow
        self.repeatInterval = repeatInterval
    }

    /// Whether an event should be sent now.
    mutating func admitEvent(_ alert: Alert, now: Date) -> Bool {
        prune(now: now)
        if var entry = entries[alert.fingerprint], now.timeIntervalSince(entry.lastSent) < dedupWindow.timeInterval {
            entry.suppressed += 1
            entries[alert.fingerprint] = entry
            return false
        }
        entries[alert.fingerprint] = Entry(lastSent: now, condition: nil, suppressed: 0)
        return true
    }

    /// Whether a condition that holds should be (re)sent now.
    mutating func admitCondition(_ alert: Alert, now: Date) -> Bool {
        if var entry = entries[alert.fingerprint], entry.condition != nil {
            entry.condition = alert
            if now.timeIntervalSince(entry.lastSent) < repeatInterval.timeInterval {
                entry.suppressed += 1
                entries[alert.fingerprint] = entry
                return false
            }
            entry.lastSent = now
            entries[alert.fingerprint] = entry
            return true
        }
        entries[alert.fingerprint] = Entry(lastSent: now, condition: alert, suppressed: 0)
        return true
    }

    /// The condition that cleared, if one with this fingerprint was firing; it is forgotten.
    mutating func clear(fingerprint: String) -> Alert? {
        guard let condition = entries[fingerprint]?.condition else { return nil }
        entries[fingerprint] = nil
        return condition
    }

    /// Conditions currently firing.
    var firingConditions: [Alert] {
        entries.values.compactMap(\.condition).sorted { $0.createdAt < $1.createdAt }
    }

    private mutating func prune(now: Date) {
        let horizon = dedupWindow.timeInterval
        entries = entries.filter { $0.value.condition != nil || now.timeIntervalSince($0.value.lastSent) < horizon }
    }
}
