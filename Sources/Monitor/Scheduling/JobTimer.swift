import FoundationEssentials
import MonitorConfig

/// When a job is due next: a value-type state machine over its schedule, without I/O.
///
/// Interval jobs run once right after start (plus jitter) and then every interval, at fixed
/// rate. Cron jobs run at their next matching minute. Occurrences that pass while a run is
/// still going (or while the process was stopped) are not made up for: they are counted as
/// missed, so status and logs can say so.
struct JobTimer: Sendable {
    let schedule: Schedule
    let jitter: Duration
    let timeZone: TimeZone

    /// The occurrence the schedule asks for, before jitter.
    private(set) var nominalDue: Date?
    /// When the run should actually start: `nominalDue` plus a random share of `jitter`.
    private(set) var due: Date?

    init(schedule: Schedule, jitter: Duration, timeZone: TimeZone = .current, now: Date) {
        self.schedule = schedule
        self.jitter = jitter
        self.timeZone = timeZone
        switch schedule {
        case .interval:
            setDue(now)
        case .cron(let cron):
            setDue(cron.next(after: now, in: timeZone))
        }
    }

    /// Moves to the first occurrence after `now` and returns how many were skipped on the way.
    @discardableResult
    mutating func advance(now: Date) -> Int {
        guard var next = nominalDue else { return 0 }
        var missed = -1
        let limit = 10_000
        repeat {
            guard let following = occurrence(after: next) else {
                setDue(nil)
                return max(missed, 0)
            }
            next = following
            missed += 1
        } while next <= now && missed < limit
        setDue(next)
        return missed
    }

    private func occurrence(after date: Date) -> Date? {
        switch schedule {
        case .interval(let interval):
            return date.addingTimeInterval(interval.timeInterval)
        case .cron(let cron):
            return cron.next(after: date, in: timeZone)
        }
    }

    private mutating func setDue(_ nominal: Date?) {
        nominalDue = nominal
        guard let nominal else {
            due = nil
            return
        }
        let spread = jitter.timeInterval
        due = spread > 0 ? nominal.addingTimeInterval(Double.random(in: 0...spread)) : nominal
    }
}

extension Duration {
    /// The duration in (fractional) seconds, as Foundation's `TimeInterval`.
    var timeInterval: TimeInterval {
        let (seconds, attoseconds) = components
        return TimeInterval(seconds) + TimeInterval(attoseconds) / 1e18
    }
}
