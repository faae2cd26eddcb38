import ControlSocket
import FoundationEssentials

/// One run of a job, as kept in its bounded history and shown by `status` and `jobs`.
public struct JobRun: Sendable, Codable, Equatable {
    /// Why the run happened.
    public enum Trigger: String, Sendable, Codable {
        case schedule
        case manual
    }

    /// How the run ended; `running` while it has not.
    public enum Outcome: String, Sendable, Codable {
        case running
        case success
        case failed
        case timedOut = "timed_out"
        case cancelled
    }

    public var trigger: Trigger
    public var startedAt: Date
    public var finishedAt: Date?
    public var durationMs: Int?
    public var outcome: Outcome
    public var error: String?
    public var summary: String?
    public var figures: [String: JSONValue]?
    /// How much later than due a scheduled run started, when that exceeded a second.
    public var lateByMs: Int?

    enum CodingKeys: String, CodingKey {
        case trigger, outcome, error, summary, figures
        case startedAt = "started_at"
        case finishedAt = "finished_at"
        case durationMs = "duration_ms"
        case lateByMs = "late_by_ms"
    }
}
