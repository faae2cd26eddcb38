/// When a job runs: every `interval`, or on a cron `schedule`.
public enum Schedule: Sendable, Equatable, CustomStringConvertible {
    case interval(Duration)
    case cron(CronSchedule)

    /// `every 15m` or `cron 0 1 * * *`.
    public var description: String {
        switch self {
        case .interval(let duration): "every \(duration.humanReadable)"
        case .cron(let cron): "cron \(cron.expression)"
        }
    }
}

/// The settings every `[job.*]` section has.
public struct JobSettings: Sendable, Equatable {
    /// Whether the job runs on its schedule (`c77-secure-dbctl run` works either way).
    public var enabled: Bool
    public var schedule: Schedule
    /// Each run starts up to this much later than scheduled, at random, so that many daemons
    /// do not hit one server at the same instant.
    public var jitter: Duration
    /// A run still going after this long is cancelled and recorded as timed out.
    public var timeout: Duration

    public init(enabled: Bool, schedule: Schedule, jitter: Duration, timeout: Duration) {
        self.enabled = enabled
        self.schedule = schedule
        self.jitter = jitter
        self.timeout = timeout
    }
}
