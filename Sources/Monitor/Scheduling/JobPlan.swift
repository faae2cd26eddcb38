import MonitorConfig

/// How a job is scheduled: the part of a `[job.*]` section the scheduler reads.
public struct JobPlan: Sendable, Equatable {
    public var enabled: Bool
    public var schedule: Schedule
    public var jitter: Duration
    public var timeout: Duration

    public init(enabled: Bool, schedule: Schedule, jitter: Duration, timeout: Duration) {
        self.enabled = enabled
        self.schedule = schedule
        self.jitter = jitter
        self.timeout = timeout
    }
}
