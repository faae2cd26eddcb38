import FoundationEssentials

/// What `status` answers: the daemon as a whole at one moment.
public struct DaemonStatus: Sendable, Codable {
    /// The configuration in force and the outcome of the last reload.
    public struct ConfigState: Sendable, Codable, Equatable {
        public var path: String
        public var loadedAt: Date
        public var lastReload: ReloadOutcome?

        enum CodingKeys: String, CodingKey {
            case path
            case loadedAt = "loaded_at"
            case lastReload = "last_reload"
        }
    }

    public var version: String
    public var pid: Int32
    public var startedAt: Date
    public var uptimeSeconds: Int
    public var state: String
    public var config: ConfigState
    public var database: MonitoredDatabase.Reachability
    public var jobs: [JobSnapshot]
    public var firingAlerts: [Alert]
    public var recentAlertCount: Int
    public var sinks: [SinkStatus]

    enum CodingKeys: String, CodingKey {
        case version, pid, state, config, database, jobs, sinks
        case startedAt = "started_at"
        case uptimeSeconds = "uptime_seconds"
        case firingAlerts = "firing_alerts"
        case recentAlertCount = "recent_alert_count"
    }
}

/// The outcome of a configuration reload (SIGHUP or `c77-secure-dbctl reload`).
public struct ReloadOutcome: Sendable, Codable, Equatable {
    public var at: Date
    public var ok: Bool
    /// Why the new file was refused; the previous configuration stays in force.
    public var error: String?
    /// Settings that changed but only take effect after a restart.
    public var needsRestart: [String]

    enum CodingKeys: String, CodingKey {
        case at, ok, error
        case needsRestart = "needs_restart"
    }
}
