import ControlSocket
import DigestLog
import Logging
import Synchronization

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
    /// What the daemon remembers across runs while it lives (and across reloads).
    public let memory: DaemonMemory

    public init(database: MonitoredDatabase, alerts: AlertCenter, logger: Logger,
                progress: ProgressReporter = ProgressReporter(), stateDirectory: String,
                memory: DaemonMemory = DaemonMemory()) {
        self.database = database
        self.alerts = alerts
        self.logger = logger
        self.progress = progress
        self.stateDirectory = stateDirectory
        self.memory = memory
    }
}

/// In-memory facts a job keeps for later runs of the same process: a third witness, next to
/// `state_directory` and the database, that neither a file edit nor a database edit can reach.
public final class DaemonMemory: Sendable {
    /// The digest log entry this process appended last.
    public struct DigestMark: Sendable, Equatable {
        public var seq: Int
        public var link: String
    }

    private let lastDigest = Mutex<DigestMark?>(nil)
    /// Held while a job reads or appends to the digest log.
    private let digestLog = Mutex<Void>(())
    /// What this process last found intact of the digest log.
    private let verifiedDigestLog = Mutex<VerifiedDigestLog?>(nil)

    public init() {}

    public var digest: DigestMark? {
        get { lastDigest.withLock { $0 } }
        set { lastDigest.withLock { $0 = newValue } }
    }

    /// Checks the digest log while no other job of this process appends to it: only what was
    /// appended since this process last found it intact, or all of it when `full` (or when
    /// it was not intact, or changed other than by appending).
    public func checkDigestLog(_ log: DigestLog, full: Bool) throws -> DigestLogCheck {
        try digestLog.withLock { _ in
            let known = full ? nil : verifiedDigestLog.withLock { $0 }
            let check = try log.verify(since: known)
            verifiedDigestLog.withLock { $0 = check.verified }
            return check
        }
    }

    /// Runs `read` while no job of this process appends to the digest log, so that it never
    /// sees half of an entry being written.
    public func readDigestLog<T: Sendable>(_ read: () throws -> T) throws -> T {
        try digestLog.withLock { _ in try read() }
    }

    /// Runs `append` while no other job reads or appends to the digest log: it reads the log's
    /// last entry and appends after it, or returns nil to append nothing. The entry it appended
    /// is remembered as the one this process wrote last.
    public func appendToDigestLog(_ append: () throws -> DigestEntry?) throws -> DigestEntry? {
        try digestLog.withLock { _ in
            let entry = try append()
            if let entry { digest = DigestMark(seq: entry.seq, link: entry.link) }
            return entry
        }
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
