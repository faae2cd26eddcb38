import FoundationEssentials
import Logging
import MonitorConfig
import Synchronization

/// Runs one job on its schedule and on request, never two runs at once, each bounded by the
/// job's timeout, and keeps a bounded history of its runs.
public actor JobController {
    /// The answer to a request to run the job now.
    public enum RunRequest: String, Sendable {
        case started
        case alreadyRunning = "already_running"
    }

    public nonisolated let name: String
    private var job: any MonitorJob
    private var plan: JobSettings
    private var timer: JobTimer?
    private var current: JobRun?
    private var history: [JobRun] = []
    private var manualPending = false
    private var counters = JobCounters()
    private let wake = AsyncSignal()
    private let stopping = Mutex(false)
    private let progress = ProgressReporter()
    private let historyLimit: Int
    private let context: JobContext

    public init(job: any MonitorJob, plan: JobSettings, context: JobContext, historyLimit: Int = 20) {
        self.name = job.name
        self.job = job
        self.plan = plan
        self.context = context
        self.historyLimit = historyLimit
    }

    /// Replaces the job's settings and schedule (configuration reload). A changed schedule
    /// takes effect at once; a run in progress finishes with the settings it started with.
    public func update(job: any MonitorJob, plan: JobSettings) {
        self.job = job
        if plan != self.plan { timer = nil }
        self.plan = plan
        wake.fire()
    }

    /// Asks for a run as soon as possible (`c77-secure-dbctl run NAME`), even when the job's
    /// schedule is disabled.
    public func requestRun() -> RunRequest {
        if current != nil || manualPending { return .alreadyRunning }
        manualPending = true
        wake.fire()
        return .started
    }

    /// Stops scheduling new runs; a run in progress finishes (or is cancelled with the task).
    public nonisolated func stop() {
        stopping.withLock { $0 = true }
        wake.fire()
    }

    /// Schedules and performs runs until `stop()` is called or the surrounding task is cancelled.
    public func run() async {
        while !Task.isCancelled, !stopping.withLock({ $0 }) {
            let trigger: JobRun.Trigger?
            if manualPending {
                trigger = .manual
            } else if let due = dueDate() {
                let wait = due.timeIntervalSinceNow
                if wait <= 0 {
                    trigger = .schedule
                } else {
                    let deadline = ContinuousClock.now.advanced(by: .milliseconds(Int64(wait * 1000)))
                    _ = await wake.wait(until: deadline)
                    continue
                }
            } else {
                await wake.wait()
                continue
            }
            guard let trigger else { continue }
            await perform(trigger)
        }
    }

    /// A snapshot for status output.
    public func snapshot() -> JobSnapshot {
        JobSnapshot(
            name: name,
            enabled: plan.enabled,
            schedule: plan.schedule.description,
            timeoutSeconds: Int(plan.timeout.timeInterval),
            nextRun: plan.enabled ? timer?.due : nil,
            running: current,
            progress: current == nil ? nil : progress.latest,
            lastRun: history.last,
            counters: counters,
            history: history
        )
    }

    private func dueDate() -> Date? {
        guard plan.enabled else { return nil }
        if timer == nil {
            timer = JobTimer(schedule: plan.schedule, jitter: plan.jitter, now: Date())
        }
        return timer?.due
    }

    private func perform(_ trigger: JobRun.Trigger) async {
        manualPending = false
        let started = Date()
        var lateBy: Int?
        if trigger == .schedule, let due = timer?.due {
            let late = started.timeIntervalSince(due)
            if late > 1 { lateBy = Int(late * 1000) }
        }
        var record = JobRun(trigger: trigger, startedAt: started, outcome: .running, lateByMs: lateBy)
        progress.reset()
        current = record
        var logger = context.logger
        logger[metadataKey: "job"] = "\(name)"
        logger.debug("Job run started", metadata: ["trigger": "\(trigger.rawValue)"])
        if let lateBy {
            logger.notice("Job started late", metadata: ["late_by_ms": "\(lateBy)"])
        }

        let outcome = await runBounded(job: job, timeout: plan.timeout, logger: logger)
        let finished = Date()
        record.finishedAt = finished
        record.durationMs = Int(finished.timeIntervalSince(started) * 1000)
        switch outcome {
        case .success(let report):
            record.outcome = .success
            record.summary = report.summary
            record.figures = report.figures
            logger.info("Job run succeeded: \(report.summary)", metadata: ["duration_ms": "\(record.durationMs ?? 0)"])
        case .failure(let failure):
            record.outcome = failure.outcome
            record.error = failure.message
            if failure.outcome != .cancelled {
                logger.error("Job run \(failure.outcome.rawValue): \(failure.message)")
                await context.alerts.raiseCondition(.jobFailed(job: name, outcome: failure.outcome.rawValue, error: failure.message))
            }
        }
        if record.outcome == .success {
            await context.alerts.resolve(fingerprint: Alert.jobFailedFingerprint(job: name))
        }
        counters.record(record.outcome)
        current = nil
        history.append(record)
        if history.count > historyLimit { history.removeFirst(history.count - historyLimit) }

        if trigger == .schedule || timer?.due.map({ $0 <= Date() }) == true {
            let missed = timer?.advance(now: Date()) ?? 0
            if missed > 0 {
                counters.missed += missed
                logger.warning("Job missed \(missed) scheduled run(s) while busy or suspended")
            }
        }
    }

    private struct RunFailure: Error {
        var outcome: JobRun.Outcome
        var message: String
    }

    private nonisolated func runBounded(
        job: any MonitorJob, timeout: Duration, logger: Logger
    ) async -> Result<JobReport, RunFailure> {
        let context = JobContext(database: context.database, alerts: context.alerts, logger: logger,
                                 progress: progress, stateDirectory: context.stateDirectory, memory: context.memory)
        return await withTaskGroup(of: Result<JobReport, RunFailure>?.self) { group in
            group.addTask {
                do {
                    return .success(try await job.run(in: context))
                } catch {
                    let cancelled = Task.isCancelled || error is CancellationError
                    return .failure(RunFailure(outcome: cancelled ? .cancelled : .failed, message: "\(error)"))
                }
            }
            group.addTask {
                do {
                    try await Task.sleep(for: timeout)
                } catch {
                    return nil
                }
                return .failure(RunFailure(outcome: .timedOut, message: "run exceeded its timeout of \(timeout.humanReadable)"))
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            for await _ in group {}
            return first ?? .failure(RunFailure(outcome: .cancelled, message: "cancelled"))
        }
    }
}

/// Totals over a job's lifetime in this process.
public struct JobCounters: Sendable, Codable, Equatable {
    public var runs = 0
    public var failures = 0
    public var timeouts = 0
    public var missed = 0

    mutating func record(_ outcome: JobRun.Outcome) {
        runs += 1
        switch outcome {
        case .failed: failures += 1
        case .timedOut: timeouts += 1
        case .success, .cancelled, .running: break
        }
    }
}

/// A job's state as status shows it.
public struct JobSnapshot: Sendable, Codable, Equatable {
    public var name: String
    public var enabled: Bool
    public var schedule: String
    public var timeoutSeconds: Int
    public var nextRun: Date?
    public var running: JobRun?
    /// How far the running run has got, when the job reports it.
    public var progress: JobProgress?
    public var lastRun: JobRun?
    public var counters: JobCounters
    public var history: [JobRun]

    enum CodingKeys: String, CodingKey {
        case name, enabled, schedule, running, progress, counters, history
        case timeoutSeconds = "timeout_seconds"
        case nextRun = "next_run"
        case lastRun = "last_run"
    }
}
