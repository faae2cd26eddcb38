import ControlSocket
import Foundation

/// Renders the daemon's JSON answers as tables for people.
enum HumanOutput {
    static func status(_ data: JSONValue) -> String {
        var out = ""
        let version = data["version"]?.stringValue ?? "?"
        let pid = data["pid"]?.intValue.map(String.init) ?? "?"
        let state = data["state"]?.stringValue ?? "?"
        let uptime = data["uptime_seconds"]?.intValue.map(formatSeconds) ?? "?"
        out += "c77-secure-dbd \(version) (pid \(pid)): \(state), up \(uptime)\n"

        let config = data["config"]
        var configLine = "config:   \(config?["path"]?.stringValue ?? "?") (loaded \(config?["loaded_at"]?.stringValue ?? "?"))"
        if let reload = config?["last_reload"], reload != .null {
            configLine += reload["ok"]?.boolValue == true
                ? "; last reload ok"
                : "; last reload REFUSED: \(reload["error"]?.stringValue ?? "")"
        }
        out += configLine + "\n"

        let database = data["database"]
        let name = database?["database"]?.stringValue ?? "database"
        switch database?["reachable"]?.boolValue {
        case true?:
            out += "database: \(name) reachable (PostgreSQL \(database?["server_version"]?.stringValue ?? "?")) since \(database?["since"]?.stringValue ?? "?")\n"
        case false?:
            out += "database: UNREACHABLE since \(database?["since"]?.stringValue ?? "?"): \(database?["last_error"]?.stringValue ?? "")\n"
        case nil:
            out += "database: not contacted yet\n"
        }

        out += "\n" + jobTable(data["jobs"]?.arrayValue ?? [])

        let firing = data["firing_alerts"]?.arrayValue ?? []
        out += "\nFiring alerts: \(firing.isEmpty ? "none" : String(firing.count))\n"
        for alert in firing { out += "  " + alertLine(alert) + "\n" }

        let sinks = data["sinks"]?.arrayValue ?? []
        if !sinks.isEmpty {
            out += "\n" + Table(headers: ["SINK", "SENT", "FAILED", "RETRYING", "SPOOLED", "LAST ERROR"], rows: sinks.map { sink in
                [sink["name"]?.stringValue ?? "?", number(sink["sent"]), number(sink["failed"]),
                 number(sink["retrying"]), number(sink["spooled"]), sink["last_error"]?.stringValue ?? "-"]
            }).render()
        }
        return out
    }

    static func jobs(_ data: JSONValue) -> String {
        let jobs = data.arrayValue ?? []
        var out = jobTable(jobs)
        for job in jobs {
            let history = job["history"]?.arrayValue ?? []
            guard !history.isEmpty else { continue }
            out += "\n\(job["name"]?.stringValue ?? "?") — last \(history.count) run(s):\n"
            out += Table(headers: ["STARTED", "TRIGGER", "OUTCOME", "DURATION", "RESULT"], rows: history.reversed().map { run in
                [run["started_at"]?.stringValue ?? "?", run["trigger"]?.stringValue ?? "?",
                 run["outcome"]?.stringValue ?? "?", run["duration_ms"]?.intValue.map { "\($0)ms" } ?? "-",
                 run["error"]?.stringValue ?? run["summary"]?.stringValue ?? ""]
            }).render(indent: "  ")
        }
        return out
    }

    static func alerts(_ data: JSONValue) -> String {
        let alerts = data.arrayValue ?? []
        guard !alerts.isEmpty else { return "No alerts.\n" }
        return Table(headers: ["TIME", "SEVERITY", "TYPE", "STATUS", "SUMMARY"], rows: alerts.map { alert in
            [alert["created_at"]?.stringValue ?? "?", alert["severity"]?.stringValue ?? "?",
             alert["type"]?.stringValue ?? "?", alert["status"]?.stringValue ?? "?", alert["summary"]?.stringValue ?? ""]
        }).render()
    }

    private static func jobTable(_ jobs: [JSONValue]) -> String {
        Table(headers: ["JOB", "ENABLED", "SCHEDULE", "LAST RUN", "OUTCOME", "DURATION", "NEXT RUN"], rows: jobs.map { job in
            let last = job["last_run"]
            let running = job["running"].map { $0 != .null } ?? false
            return [
                job["name"]?.stringValue ?? "?",
                job["enabled"]?.boolValue == true ? "yes" : "no",
                job["schedule"]?.stringValue ?? "?",
                last?["started_at"]?.stringValue ?? "-",
                running ? "running" : (last?["outcome"]?.stringValue ?? "-"),
                last?["duration_ms"]?.intValue.map { "\($0)ms" } ?? "-",
                job["next_run"]?.stringValue ?? "-",
            ]
        }).render()
    }

    private static func alertLine(_ alert: JSONValue) -> String {
        "[\(alert["severity"]?.stringValue ?? "?")] \(alert["type"]?.stringValue ?? "?"): \(alert["summary"]?.stringValue ?? "")"
    }

    private static func number(_ value: JSONValue?) -> String {
        value?.intValue.map(String.init) ?? "0"
    }

    private static func formatSeconds(_ total: Int) -> String {
        let days = total / 86_400, hours = total % 86_400 / 3600, minutes = total % 3600 / 60, seconds = total % 60
        if days > 0 { return "\(days)d\(hours)h" }
        if hours > 0 { return "\(hours)h\(minutes)m" }
        if minutes > 0 { return "\(minutes)m\(seconds)s" }
        return "\(seconds)s"
    }
}

/// A plain-text table with left-aligned columns.
struct Table {
    var headers: [String]
    var rows: [[String]]

    func render(indent: String = "") -> String {
        var widths = headers.map(\.count)
        for row in rows {
            for (index, cell) in row.enumerated() where index < widths.count {
                widths[index] = max(widths[index], cell.count)
            }
        }
        func line(_ cells: [String]) -> String {
            let padded = cells.enumerated().map { index, cell in
                index == cells.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }
            return indent + padded.joined(separator: "  ") + "\n"
        }
        return ([line(headers)] + rows.map(line)).joined()
    }
}

extension JSONValue {
    /// Indented JSON with sorted keys, for `--json`.
    var prettyJSON: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return (try? String(decoding: encoder.encode(self), as: UTF8.self)) ?? "null"
    }
}
