import FoundationEssentials
import Logging
import MonitorConfig

/// Where every finding goes: filters by severity, de-duplicates, keeps the recent alerts for
/// status, and hands each alert to the sinks that want it.
public actor AlertCenter {
    private var gate: AlertGate
    private var minSeverity: Severity
    private var historySize: Int
    private var recent: [Alert] = []
    private var sinks: [any AlertSink]
    private let logger: Logger

    public init(
        minSeverity: Severity, dedupWindow: Duration, repeatInterval: Duration, historySize: Int,
        sinks: [any AlertSink], logger: Logger
    ) {
        self.gate = AlertGate(dedupWindow: dedupWindow, repeatInterval: repeatInterval)
        self.minSeverity = minSeverity
        self.historySize = historySize
        self.sinks = sinks
        self.logger = logger
    }

    /// Applies new `[alerts]` settings and sinks (configuration reload); what was firing stays firing.
    public func update(minSeverity: Severity, dedupWindow: Duration, repeatInterval: Duration, historySize: Int, sinks: [any AlertSink]) {
        self.minSeverity = minSeverity
        gate.dedupWindow = dedupWindow
        gate.repeatInterval = repeatInterval
        self.historySize = historySize
        self.sinks = sinks
        trimHistory()
    }

    /// Raises a one-off finding; repeats within the de-duplication window are dropped.
    public func raise(_ alert: Alert) async {
        guard alert.severity >= minSeverity, gate.admitEvent(alert, now: alert.createdAt) else { return }
        await dispatch(alert)
    }

    /// Raises a condition that holds now; it is repeated every repeat interval while it holds.
    public func raiseCondition(_ alert: Alert) async {
        guard alert.severity >= minSeverity, gate.admitCondition(alert, now: alert.createdAt) else { return }
        await dispatch(alert)
    }

    /// Reports that the condition with this fingerprint no longer holds. A `resolved` notice is
    /// sent only when the condition had fired.
    public func resolve(fingerprint: String, summary: String? = nil) async {
        guard let fired = gate.clear(fingerprint: fingerprint) else { return }
        var notice = fired
        notice.id = UUID().uuidString.lowercased()
        notice.status = .resolved
        notice.createdAt = Date()
        notice.summary = summary ?? "Resolved: \(fired.summary)"
        await dispatch(notice)
    }

    /// The most recent alerts sent, newest last.
    public func recentAlerts(limit: Int? = nil) -> [Alert] {
        guard let limit, limit < recent.count else { return recent }
        return Array(recent.suffix(limit))
    }

    /// Conditions currently firing.
    public func firing() -> [Alert] { gate.firingConditions }

    /// Every sink's counters.
    public func sinkStatuses() async -> [SinkStatus] {
        var statuses: [SinkStatus] = []
        for sink in sinks { statuses.append(await sink.status()) }
        return statuses
    }

    private func dispatch(_ alert: Alert) async {
        recent.append(alert)
        trimHistory()
        logger.log(
            level: alert.severity.logLevel,
            "Alert \(alert.type) [\(alert.severity.rawValue)\(alert.status == .resolved ? ", resolved" : "")]: \(alert.summary)",
            metadata: ["alert_id": "\(alert.id)", "fingerprint": "\(alert.fingerprint)"]
        )
        for sink in sinks where alert.severity >= sink.minSeverity {
            await sink.enqueue(alert)
        }
    }

    private func trimHistory() {
        if recent.count > historySize { recent.removeFirst(recent.count - historySize) }
    }
}

extension Severity {
    /// The log level an alert of this severity is logged at.
    var logLevel: Logger.Level {
        switch self {
        case .info: .info
        case .warning: .warning
        case .high: .error
        case .critical: .critical
        }
    }
}
