import FoundationEssentials
import Logging
import MonitorConfig
import Postgres

/// Sends each alert with `pg_notify(channel, payload)` so that any session that
/// `LISTEN`s on the channel receives it as JSON.
///
/// It uses its own connection, so a long job never delays an alert. While the database is
/// unreachable alerts wait in a bounded in-memory queue (the other sinks still get them at
/// once) and go out, in order, when it answers again.
public actor NotifySink: AlertSink {
    public nonisolated let name = "notify"
    public nonisolated let minSeverity: Severity
    private let channel: String
    private let client: PostgresClient
    private let logger: Logger
    private var queue: [Alert] = []
    private var counters = SinkStatus(name: "notify")
    private let wake = AsyncSignal()
    private let retry = RetryPolicy(initialDelay: .seconds(1), maxDelay: .seconds(30))
    /// Alerts kept while the database is unreachable; the oldest are dropped beyond this.
    static let queueLimit = 1000

    public init(channel: String, minSeverity: Severity, configuration: PostgresConfiguration, logger: Logger) {
        self.channel = channel
        self.minSeverity = minSeverity
        self.client = PostgresClient(configuration: configuration, logger: logger)
        self.logger = logger
    }

    public func enqueue(_ alert: Alert) {
        queue.append(alert)
        if queue.count > Self.queueLimit {
            queue.removeFirst(queue.count - Self.queueLimit)
            counters.failed += 1
            counters.lastError = "queue full while the database is unreachable; oldest alert dropped"
        }
        counters.spooled = queue.count
        wake.fire()
    }

    public func status() -> SinkStatus { counters }

    /// Sends queued alerts until the task is cancelled.
    public func run() async {
        var failures = 0
        while !Task.isCancelled {
            guard let alert = queue.first else {
                await wake.wait()
                continue
            }
            let payload = NotifyPayload.encode(alert)
            let channel = self.channel
            do {
                _ = try await client.withConnection { connection in
                    try await connection.query("SELECT pg_notify($1, $2)", [.text(channel), .text(payload)])
                }
                queue.removeFirst()
                failures = 0
                counters.sent += 1
                counters.retrying = 0
                counters.spooled = queue.count
                counters.lastError = nil
            } catch {
                failures += 1
                counters.retrying = queue.count
                counters.lastError = "\(error)"
                logger.warning("NOTIFY delivery failed; will retry", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: retry.delay(afterAttempt: failures))
            }
        }
        client.close()
    }
}
