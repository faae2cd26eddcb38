import ControlSocket
import FoundationEssentials
import Glibc
import Logging
import MonitorConfig
import Postgres
import ServiceLifecycle
import Synchronization
import Systemd
import UnixSignals

/// The long-running daemon: owns the control socket, the database connection, the alert
/// center and one controller per job, and speaks to systemd.
///
/// Start-up order follows what `Type=notify` promises: READY=1 is sent only once the
/// configuration is valid, the socket listens and the database has answered — or has failed
/// once, in which case the daemon keeps retrying and STATUS= says so.
public final class MonitorDaemon: Service, Sendable {
    private let configPath: String
    private let logger: Logger
    private let notifier: SystemdNotifier
    private let startedAt = Date()
    private let alerts: AlertCenter
    private let sinks: [any AlertSink]
    private let database: MonitoredDatabase
    private let controllers: [String: JobController]
    private let control: ControlServer
    private let state: Mutex<RuntimeState>
    /// What the jobs remember across runs; the control socket reads the digest log under its lock.
    let memory: DaemonMemory

    private struct RuntimeState: Sendable {
        var configuration: DaemonConfiguration
        var loadedAt: Date
        var lastReload: ReloadOutcome?
        var phase = "starting"
    }

    /// Builds the daemon from a validated configuration; nothing is started yet.
    public init(configuration: DaemonConfiguration, configPath: String, logger: Logger, notifier: SystemdNotifier) throws {
        self.configPath = configPath
        self.logger = logger
        self.notifier = notifier
        let sinks = try AlertSinks.make(for: configuration, logger: logger)
        let alerts = AlertCenter(
            minSeverity: configuration.alerts.minSeverity,
            dedupWindow: configuration.alerts.dedupWindow,
            repeatInterval: configuration.alerts.repeatInterval,
            historySize: configuration.alerts.historySize,
            sinks: sinks, logger: logger
        )
        self.alerts = alerts
        self.sinks = sinks
        let database = MonitoredDatabase(configuration: configuration.postgresConfiguration, alerts: alerts, logger: logger)
        self.database = database
        let memory = DaemonMemory()
        self.memory = memory
        let context = JobContext(database: database, alerts: alerts, logger: logger,
                                 stateDirectory: configuration.daemon.stateDirectory, memory: memory)
        var controllers: [String: JobController] = [:]
        for (job, plan) in JobCatalog.jobs(for: configuration) {
            controllers[job.name] = JobController(job: job, plan: plan, context: context)
        }
        self.controllers = controllers
        self.state = Mutex(RuntimeState(configuration: configuration, loadedAt: Date()))

        let handler = ControlHandlerBox()
        self.control = ControlServer(
            path: configuration.daemon.socket,
            mode: configuration.daemon.socketMode,
            group: configuration.daemon.socketGroup,
            handler: { request, peer in await handler.handle(request, peer) }
        )
        handler.daemon = self
    }

    public func run() async throws {
        try control.start()
        defer { control.stop() }
        logger.info("Listening on control socket", metadata: ["socket": "\(control.path)"])
        await warnIfSuperuser()
        for case let webhook as WebhookSink in sinks {
            await webhook.setReporter { [alerts] alert in await alerts.raise(alert) }
        }

        notifier.ready()
        setPhase("running")
        await refreshSystemdStatus()

        await withDiscardingTaskGroup { group in
            for controller in controllers.values {
                group.addTask {
                    await withGracefulShutdownHandler {
                        await controller.run()
                    } onGracefulShutdown: {
                        controller.stop()
                    }
                }
            }
            for sink in sinks {
                group.addTask { await cancelWhenGracefulShutdown { await sink.run() } }
            }
            group.addTask { await self.watchdogLoop() }
            group.addTask { await self.reloadOnHangup() }
            group.addTask { await self.statusLoop() }
            // Background tasks end on graceful shutdown; job controllers end once their
            // current run (if any) has finished or been cancelled.
        }
        notifier.stopping()
        database.close()
        logger.info("Stopped")
    }

    /// Re-reads the configuration file. A file that does not validate is refused and the
    /// configuration in force is kept; the outcome is logged and shown by status.
    @discardableResult
    public func reload() async -> ReloadOutcome {
        notifier.reloading()
        let outcome: ReloadOutcome
        do {
            let next = try DaemonConfiguration.load(path: configPath)
            let previous = state.withLock { $0.configuration }
            let needsRestart = Self.restartOnlyChanges(from: previous, to: next)
            await apply(next)
            outcome = ReloadOutcome(at: Date(), ok: true, error: nil, needsRestart: needsRestart)
            logger.notice("Configuration reloaded", metadata: ["config": "\(configPath)"])
            if !needsRestart.isEmpty {
                logger.warning("Some changed settings take effect only after a restart: \(needsRestart.joined(separator: ", "))")
            }
        } catch {
            outcome = ReloadOutcome(at: Date(), ok: false, error: "\(error)", needsRestart: [])
            logger.error("Configuration reload refused; keeping the running configuration: \(error)")
        }
        state.withLock { $0.lastReload = outcome }
        notifier.ready()
        await refreshSystemdStatus()
        return outcome
    }

    /// The daemon's status, for the control socket.
    public func status() async -> DaemonStatus {
        let snapshot = state.withLock { $0 }
        var jobs: [JobSnapshot] = []
        for name in controllers.keys.sorted() {
            var job = await controllers[name]!.snapshot()
            job.history = []
            jobs.append(job)
        }
        return DaemonStatus(
            version: MonitorVersion.current,
            pid: getpid(),
            startedAt: startedAt,
            uptimeSeconds: Int(Date().timeIntervalSince(startedAt)),
            state: snapshot.phase,
            config: .init(path: configPath, loadedAt: snapshot.loadedAt, lastReload: snapshot.lastReload),
            database: database.reachability,
            jobs: jobs,
            firingAlerts: await alerts.firing(),
            recentAlertCount: await alerts.recentAlerts().count,
            sinks: await alerts.sinkStatuses()
        )
    }

    /// Every job with its run history.
    public func jobs() async -> [JobSnapshot] {
        var jobs: [JobSnapshot] = []
        for name in controllers.keys.sorted() { jobs.append(await controllers[name]!.snapshot()) }
        return jobs
    }

    /// The most recent alerts.
    public func recentAlerts(limit: Int?) async -> [Alert] {
        await alerts.recentAlerts(limit: limit)
    }

    /// Asks a job to run now; nil when there is no such job.
    public func requestRun(job name: String) async -> JobController.RunRequest? {
        await controllers[name]?.requestRun()
    }

    /// The names of the jobs this daemon knows.
    public var jobNames: [String] { controllers.keys.sorted() }

    /// The socket's configured owner group, which may run mutating commands.
    var controlGroup: String? { state.withLock { $0.configuration.daemon.socketGroup } }
    var stateDirectory: String { state.withLock { $0.configuration.daemon.stateDirectory } }

    private func apply(_ configuration: DaemonConfiguration) async {
        for (job, plan) in JobCatalog.jobs(for: configuration) {
            await controllers[job.name]?.update(job: job, plan: plan)
        }
        await alerts.update(
            minSeverity: configuration.alerts.minSeverity,
            dedupWindow: configuration.alerts.dedupWindow,
            repeatInterval: configuration.alerts.repeatInterval,
            historySize: configuration.alerts.historySize,
            sinks: sinks
        )
        state.withLock {
            $0.configuration = configuration
            $0.loadedAt = Date()
        }
    }

    /// Settings read only at start-up.
    static func restartOnlyChanges(from old: DaemonConfiguration, to new: DaemonConfiguration) -> [String] {
        var changed: [String] = []
        if old.daemon.socket != new.daemon.socket { changed.append("[daemon] socket") }
        if old.daemon.socketMode != new.daemon.socketMode { changed.append("[daemon] socket_mode") }
        if old.daemon.socketGroup != new.daemon.socketGroup { changed.append("[daemon] socket_group") }
        if old.daemon.stateDirectory != new.daemon.stateDirectory { changed.append("[daemon] state_directory") }
        if old.daemon.logLevel != new.daemon.logLevel { changed.append("[daemon] log_level") }
        if old.database != new.database { changed.append("[database]") }
        if old.notifySink != new.notifySink { changed.append("[sink.notify]") }
        if old.journaldSink != new.journaldSink { changed.append("[sink.journald]") }
        if old.webhookSink != new.webhookSink { changed.append("[sink.webhook]") }
        return changed
    }

    private func setPhase(_ phase: String) {
        state.withLock { $0.phase = phase }
    }

    private func warnIfSuperuser() async {
        let isSuperuser = try? await database.withConnection { connection in
            try await connection.query("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").first?.bool("rolsuper")
        }
        if isSuperuser == true {
            logger.warning("Connected as a superuser: run the daemon as a login role granted c77_secure_db_monitor instead")
        }
    }

    private func watchdogLoop() async {
        guard let interval = notifier.watchdogInterval else { return }
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                self.notifier.watchdog()
                try await Task.sleep(for: interval)
            }
        }
    }

    private func reloadOnHangup() async {
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        for await _ in hangups.cancelOnGracefulShutdown() {
            logger.info("SIGHUP received: reloading configuration")
            await reload()
        }
    }

    private func statusLoop() async {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try await Task.sleep(for: .seconds(5))
                await self.refreshSystemdStatus()
            }
        }
    }

    /// Tells systemd (STATUS=) what the daemon is doing: running jobs with their progress,
    /// idle, or retrying an unreachable database (which it probes once more first).
    private func refreshSystemdStatus() async {
        var running: [String] = []
        for name in controllers.keys.sorted() {
            let snapshot = await controllers[name]!.snapshot()
            guard snapshot.running != nil else { continue }
            running.append(snapshot.progress.map { "\(name) \($0.line)" } ?? name)
        }
        if database.reachability.reachable == false { await database.probe() }
        let reachability = database.reachability
        if reachability.reachable == false {
            notifier.status("Database unreachable, retrying: \(reachability.lastError ?? "")")
        } else if running.isEmpty {
            notifier.status("Idle; monitoring \(reachability.database ?? "database")")
        } else {
            notifier.status("Running " + running.joined(separator: "; "))
        }
    }
}

/// Lets the control server's handler, created before the daemon finishes initializing,
/// reach the daemon.
private final class ControlHandlerBox: @unchecked Sendable {
    // Written once in MonitorDaemon.init before the server starts, read-only afterwards.
    weak var daemon: MonitorDaemon?

    func handle(_ request: ControlRequest, _ peer: PeerCredentials) async -> ControlResponse {
        guard let daemon else { return .failure("daemon is shutting down") }
        return await ControlHandler(daemon: daemon).handle(request, peer: peer)
    }
}
