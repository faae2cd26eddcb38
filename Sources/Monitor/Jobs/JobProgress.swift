import FoundationEssentials
import Synchronization

/// How far a long run has got, as status and systemd's STATUS= show it.
public struct JobProgress: Sendable, Codable, Equatable {
    /// What the run is working on, e.g. `shop.orders`.
    public var current: String
    public var rowsDone: Int
    public var rowsTotal: Int?
    public var rowsPerSecond: Double?
    public var etaSeconds: Int?

    public init(current: String, rowsDone: Int, rowsTotal: Int?, rowsPerSecond: Double?, etaSeconds: Int?) {
        self.current = current
        self.rowsDone = rowsDone
        self.rowsTotal = rowsTotal
        self.rowsPerSecond = rowsPerSecond
        self.etaSeconds = etaSeconds
    }

    /// One line, e.g. `shop.orders 45% (450000/1000000 rows, 120000 rows/s, ETA 5s)`.
    public var line: String {
        var text = current
        if let total = rowsTotal, total > 0 {
            text += " \(min(100, rowsDone * 100 / total))% (\(rowsDone)/\(total) rows"
        } else {
            text += " (\(rowsDone) rows"
        }
        if let rate = rowsPerSecond { text += ", \(Int(rate)) rows/s" }
        if let eta = etaSeconds { text += ", ETA \(eta)s" }
        return text + ")"
    }

    enum CodingKeys: String, CodingKey {
        case current
        case rowsDone = "rows_done"
        case rowsTotal = "rows_total"
        case rowsPerSecond = "rows_per_second"
        case etaSeconds = "eta_seconds"
    }
}

/// Where a job run reports its progress; the job's controller shows the latest report.
public final class ProgressReporter: Sendable {
    private let state = Mutex<JobProgress?>(nil)

    public init() {}

    /// Replaces the progress shown for the current run.
    public func report(_ progress: JobProgress) {
        state.withLock { $0 = progress }
    }

    /// The latest report, or nil before the first one and after the run.
    public var latest: JobProgress? { state.withLock { $0 } }

    func reset() {
        state.withLock { $0 = nil }
    }
}
