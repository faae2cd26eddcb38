import FoundationEssentials
import Logging

/// A swift-log handler that writes structured journal entries: MESSAGE, PRIORITY (syslog
/// level), SYSLOG_IDENTIFIER, CODE_FILE/CODE_LINE/CODE_FUNC, C77_LOGGER (the logger's
/// label), and each metadata key as an upper-cased field (`job` → `JOB`), so
/// `journalctl -u c77-secure-dbd JOB=hash_verification` works. If journald cannot take an
/// entry, the line goes to standard error instead, so nothing is lost silently.
public struct JournalLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String
    private let identifier: String
    private let writer: JournalWriter
    private let fallback: StderrLogHandler

    public init(label: String, identifier: String, level: Logger.Level, writer: JournalWriter) {
        self.label = label
        self.identifier = identifier
        self.logLevel = level
        self.writer = writer
        self.fallback = StderrLogHandler(label: label, level: level)
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields: [(String, String)] = [
            ("MESSAGE", event.message.description),
            ("PRIORITY", String(Self.priority(event.level))),
            ("SYSLOG_IDENTIFIER", identifier),
            ("CODE_FILE", event.file),
            ("CODE_LINE", String(event.line)),
            ("CODE_FUNC", event.function),
            ("C77_LOGGER", label),
        ]
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        for (key, value) in merged.sorted(by: { $0.key < $1.key }) {
            fields.append((JournalWriter.fieldName(key), value.description))
        }
        do {
            try writer.send(fields)
        } catch {
            fallback.log(event: event)
        }
    }

    /// The syslog priority journald stores for a log level.
    public static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }
}
