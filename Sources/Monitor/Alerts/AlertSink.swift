import MonitorConfig

/// A destination for alerts (NOTIFY, journald, webhook).
///
/// `enqueue` must return quickly: a sink that talks to the network queues the alert and
/// delivers it on its own task, so that a slow receiver never delays a job.
public protocol AlertSink: Sendable {
    /// The sink's name as in its INI section (`[sink.NAME]`).
    var name: String { get }
    /// Alerts below this severity are not sent to this sink.
    var minSeverity: Severity { get }
    /// Accepts an alert for delivery.
    func enqueue(_ alert: Alert) async
    /// Delivery counters and health, for status.
    func status() async -> SinkStatus
    /// Delivers queued alerts until the task is cancelled (sinks that send synchronously
    /// from `enqueue` return at once).
    func run() async
}

extension AlertSink {
    public func run() async {}
}

/// A sink's counters as status shows them.
public struct SinkStatus: Sendable, Codable, Equatable {
    public var name: String
    public var sent: Int = 0
    public var failed: Int = 0
    public var retrying: Int = 0
    public var spooled: Int = 0
    /// The last delivery error, if the last attempt failed.
    public var lastError: String?

    public init(name: String) { self.name = name }

    enum CodingKeys: String, CodingKey {
        case name, sent, failed, retrying, spooled
        case lastError = "last_error"
    }
}
