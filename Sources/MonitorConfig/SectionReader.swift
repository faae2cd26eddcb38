/// Reads the keys of one section with typed getters, so each key of the configuration is one
/// line of code; `finish()` then refuses any key nobody asked for.
struct SectionReader {
    let file: String
    let name: String
    let line: Int
    private var entries: [String: INIDocument.Entry]
    private var used: Set<String> = []

    init(_ section: INIDocument.Section?, name: String, file: String) {
        self.file = file
        self.name = name
        self.line = section?.line ?? 0
        self.entries = Dictionary((section?.entries ?? []).map { ($0.key, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// Whether the key is set.
    func has(_ key: String) -> Bool { entries[key] != nil }

    /// Reads `key` with `parse`, or returns `fallback` when it is absent.
    mutating func value<T>(_ key: String, default fallback: T, _ parse: (String) throws(ValueError) -> T) throws(ConfigError) -> T {
        used.insert(key)
        guard let entry = entries[key] else { return fallback }
        do {
            return try parse(entry.value)
        } catch {
            throw ConfigError(.badValue, file: file, line: entry.line, section: name, key: key, message: "[\(name)] \(key): \(error.message)")
        }
    }

    /// Reads an optional `key` with `parse`; an empty value means "none", as if absent.
    mutating func optional<T>(_ key: String, _ parse: (String) throws(ValueError) -> T) throws(ConfigError) -> T? {
        try value(key, default: nil) { (text) throws(ValueError) -> T? in text.isEmpty ? nil : try parse(text) }
    }

    /// Reads a key that must be present.
    mutating func required<T>(_ key: String, _ parse: (String) throws(ValueError) -> T) throws(ConfigError) -> T {
        guard let value = try optional(key, parse) else {
            throw ConfigError(.missingKey, file: file, line: line, section: name, key: key, message: "[\(name)] \(key) is required")
        }
        return value
    }

    mutating func string(_ key: String, default fallback: String) throws(ConfigError) -> String {
        try value(key, default: fallback) { $0 }
    }

    mutating func duration(_ key: String, default fallback: Duration) throws(ConfigError) -> Duration {
        try value(key, default: fallback, ValueParsers.duration)
    }

    mutating func bool(_ key: String, default fallback: Bool) throws(ConfigError) -> Bool {
        try value(key, default: fallback, ValueParsers.bool)
    }

    mutating func integer(_ key: String, default fallback: Int, in range: ClosedRange<Int> = 0...Int.max) throws(ConfigError) -> Int {
        try value(key, default: fallback) { (text) throws(ValueError) -> Int in try ValueParsers.integer(text, in: range) }
    }

    mutating func severity(_ key: String, default fallback: Severity) throws(ConfigError) -> Severity {
        try value(key, default: fallback, ValueParsers.severity)
    }

    /// The settings every `[job.*]` section has: `enabled`, `interval` or `schedule`, `jitter`, `timeout`.
    mutating func job(defaultSchedule: Schedule, defaultTimeout: Duration, enabledByDefault: Bool = true) throws(ConfigError) -> JobSettings {
        let interval = try optional("interval", ValueParsers.duration)
        let cron = try optional("schedule") { (text) throws(ValueError) -> CronSchedule in
            do throws(CronSchedule.ParseError) { return try CronSchedule(parsing: text) } catch { throw ValueError(error.description) }
        }
        if interval != nil, cron != nil {
            throw ConfigError(.conflictingKeys, file: file, line: entries["schedule"]!.line, section: name, key: "schedule",
                              message: "[\(name)] set either interval or schedule, not both")
        }
        if let interval, interval < .seconds(1) {
            throw ConfigError(.badValue, file: file, line: entries["interval"]!.line, section: name, key: "interval",
                              message: "[\(name)] interval: must be at least 1s")
        }
        let schedule = interval.map(Schedule.interval) ?? cron.map(Schedule.cron) ?? defaultSchedule
        return JobSettings(
            enabled: try bool("enabled", default: enabledByDefault),
            schedule: schedule,
            jitter: try duration("jitter", default: .zero),
            timeout: try positiveDuration("timeout", default: defaultTimeout)
        )
    }

    mutating func positiveDuration(_ key: String, default fallback: Duration) throws(ConfigError) -> Duration {
        let value = try duration(key, default: fallback)
        if value <= .zero {
            throw ConfigError(.badValue, file: file, line: entries[key]?.line ?? line, section: name, key: key,
                              message: "[\(name)] \(key): must be longer than 0s")
        }
        return value
    }

    /// Refuses keys that were not read.
    func finish() throws(ConfigError) {
        if let unknown = entries.values.filter({ !used.contains($0.key) }).min(by: { $0.line < $1.line }) {
            throw ConfigError(.unknownKey, file: file, line: unknown.line, section: name, key: unknown.key,
                              message: "[\(name)] unknown key '\(unknown.key)'")
        }
    }
}
