import FoundationEssentials
import HTTPPost
import Logging
import MonitorConfig

/// Posts alerts as JSON to an HTTP(S) endpoint, signed Standard-Webhooks style, from a
/// durable spool, in order, retrying with backoff.
///
/// - 2xx: delivered; the spool file is removed.
/// - 410 Gone: the endpoint is gone; delivery stops (alerts stay spooled) until the daemon
///   restarts or reloads, and an `ALERT_DELIVERY_FAILED` alert goes to the other sinks.
/// - 408, 429, 5xx, timeouts and connection errors: retried with exponential backoff and
///   jitter (honouring `Retry-After`) up to `max_attempts`, then moved to `failed/`.
/// - other 4xx: the receiver refuses the alert; moved to `failed/` at once.
public actor WebhookSink: AlertSink {
    public nonisolated let name = "webhook"
    public nonisolated let minSeverity: Severity

    private let url: URL
    private let format: WebhookFormat
    private let signer: WebhookSigner?
    private let timeout: Duration
    private let maxAttempts: Int
    private let retry: RetryPolicy
    private let spool: WebhookSpool
    private let logger: Logger
    private var queue: [WebhookSpool.Entry] = []
    private var attempts = 0
    private var gone = false
    private var counters: SinkStatus
    private let wake = AsyncSignal()
    private var reporter: (@Sendable (Alert) async -> Void)?

    public init(
        url: URL, format: WebhookFormat, secret: String?, timeout: Duration, maxAttempts: Int,
        spoolDirectory: String, minSeverity: Severity, retry: RetryPolicy = RetryPolicy(initialDelay: .seconds(1), maxDelay: .seconds(300)),
        logger: Logger
    ) throws {
        self.url = url
        self.format = format
        self.signer = try secret.map(WebhookSigner.init(secret:))
        self.timeout = timeout
        self.maxAttempts = maxAttempts
        self.retry = retry
        self.spool = try WebhookSpool(directory: spoolDirectory)
        self.minSeverity = minSeverity
        self.logger = logger
        self.counters = SinkStatus(name: "webhook")
        self.queue = spool.pending()
        self.counters.spooled = queue.count
    }

    /// Where alerts about this sink's own failures go (the alert center, which sends them to
    /// the other sinks too).
    public func setReporter(_ reporter: @escaping @Sendable (Alert) async -> Void) {
        self.reporter = reporter
    }

    public func enqueue(_ alert: Alert) async {
        do {
            let body = try format == .alertmanager ? WebhookPayload.alertmanager(alert) : WebhookPayload.native(alert)
            queue.append(try spool.append(id: alert.id, body: String(decoding: body, as: UTF8.self)))
            counters.spooled = queue.count
            wake.fire()
        } catch {
            counters.failed += 1
            counters.lastError = "spool: \(error)"
            logger.error("Webhook alert could not be spooled: \(error)", metadata: ["alert_id": "\(alert.id)"])
        }
    }

    public func status() -> SinkStatus { counters }

    /// Delivers spooled alerts until the task is cancelled; alerts spooled by an earlier run of
    /// the daemon go first.
    public func run() async {
        while !Task.isCancelled {
            guard let entry = queue.first, !gone else {
                await wake.wait()
                continue
            }
            let outcome = await post(entry)
            switch outcome {
            case .delivered:
                spool.remove(entry)
                queue.removeFirst()
                attempts = 0
                counters.sent += 1
                counters.retrying = 0
                counters.spooled = queue.count
                counters.lastError = nil
            case .retry(let error, let retryAfter):
                attempts += 1
                counters.lastError = error
                if attempts >= maxAttempts {
                    await giveUp(entry, reason: "\(error) after \(attempts) attempts")
                } else {
                    counters.retrying = 1
                    let delay = retry.delay(afterAttempt: attempts, retryAfter: retryAfter)
                    logger.warning("Webhook delivery failed, retrying in \(delay)", metadata: ["error": "\(error)", "attempt": "\(attempts)"])
                    try? await Task.sleep(for: delay)
                }
            case .rejected(let error):
                counters.lastError = error
                await giveUp(entry, reason: error)
            case .gone:
                gone = true
                counters.lastError = "410 Gone: endpoint removed; delivery paused until restart or reload"
                logger.error("Webhook endpoint answered 410 Gone; alerts stay spooled", metadata: ["url": "\(url)"])
                await reporter?(Alert(
                    type: .alertDeliveryFailed, severity: .high,
                    summary: "Webhook endpoint \(url.absoluteString) answered 410 Gone; alerts are kept in the spool",
                    details: ["sink": "webhook", "url": .string(url.absoluteString), "status": 410]
                ))
            }
        }
    }

    private func giveUp(_ entry: WebhookSpool.Entry, reason: String) async {
        spool.deadLetter(entry)
        queue.removeFirst()
        attempts = 0
        counters.failed += 1
        counters.retrying = 0
        counters.spooled = queue.count
        logger.error("Webhook delivery abandoned, moved to failed/: \(reason)", metadata: ["webhook_id": "\(entry.id)"])
        await reporter?(Alert(
            type: .alertDeliveryFailed, severity: .high,
            summary: "Webhook delivery of alert \(entry.id) abandoned: \(reason)",
            details: ["sink": "webhook", "url": .string(url.absoluteString), "webhook_id": .string(entry.id)]
        ))
    }

    private enum Outcome {
        case delivered
        case retry(String, retryAfter: Duration?)
        case rejected(String)
        case gone
    }

    private func post(_ entry: WebhookSpool.Entry) async -> Outcome {
        let body = Array(entry.body.utf8)
        let timestamp = Int(Date().timeIntervalSince1970)
        var headers: [(name: String, value: String)] = [
            ("Content-Type", "application/json"),
            ("User-Agent", "c77-secure-dbd/\(MonitorVersion.current)"),
            ("webhook-id", entry.id),
            ("webhook-timestamp", String(timestamp)),
        ]
        if let signer {
            headers.append(("webhook-signature", signer.signature(id: entry.id, timestamp: timestamp, body: Data(body))))
        }
        do {
            let response = try await HTTPPost.send(to: url, headers: headers, body: body, timeout: timeout)
            switch response.status {
            case 200..<300:
                return .delivered
            case 410:
                return .gone
            case 408, 429, 500...599:
                return .retry("HTTP \(response.status)", retryAfter: RetryPolicy.parseRetryAfter(response.value(for: "Retry-After")))
            default:
                return .rejected("HTTP \(response.status)")
            }
        } catch {
            return .retry(error.description, retryAfter: nil)
        }
    }
}
