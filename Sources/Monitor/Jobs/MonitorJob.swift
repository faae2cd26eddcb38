import ControlSocket
import Logging

/// One kind of scheduled work the daemon does (health check, token cleanup, …).
///
/// A job value carries its own settings; a configuration reload replaces the value. The
/// scheduler guarantees that runs of one job never overlap and bounds each run by its timeout
/// (it cancels the task; database calls honour cancellation).
public protocol MonitorJob: Sendable {
    /// The job's name, as in its INI section (`[job.NAME]`) and in `c77-secure-dbctl run NAME`.
    var name: String { get }

    /// Performs one run. Findings are raised through `context.alerts`; the returned report is
    /// what status shows for the run. Throwing marks the run failed.
    func run(in context: JobContext) async throws -> JobReport
}

/// What a job run can use.
public struct JobContext: Sendable {
    public let database: MonitoredDatabase
    public let alerts: AlertCenter
    public let logger: Logger
    /// Where a long run reports how far it has got.
    public let progress: ProgressReporter
    /// The daemon's `state_directory`, for checkpoints and baselines that survive restarts.
    public let stateDirectory: String

    public init(database: MonitoredDatabase, alerts: AlertCenter, logger: Logger,
                progress: ProgressReporter = ProgressReporter(), stateDirectory: String) {
        self.database = database
        self.alerts = alerts
        self.logger = logger
        self.progress = progress
        self.stateDirectory = stateDirectory
    }
}

/// The outcome of a successful run: a one-line summary for humans and figures for machines.
public struct JobReport: Sendable, Codable, Equatable {
    public var summary: String
    public var figures: [String: JSONValue]

    public init(summary: String, figures: [String: JSONValue] = [:]) {
        self.summary = summary
        self.figures = figures
    }
}
