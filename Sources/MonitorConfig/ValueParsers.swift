import EssentialsSupport
import FoundationEssentials

/// Why a value could not be read; `SectionReader` adds the file, line, section and key.
struct ValueError: Error {
    var message: String
    init(_ message: String) { self.message = message }
}

/// Parsers for the value types of the configuration file.
enum ValueParsers {
    /// `500ms`, `30s`, `15m`, `24h`, `7d`, or combinations such as `1h30m`. A bare number is
    /// refused: `30` could mean seconds or minutes, so the unit is required.
    static func duration(_ text: String) throws(ValueError) -> Duration {
        let units: [(String, Int64)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000)]
        var rest = Substring(text.trimmingWhitespace())
        guard !rest.isEmpty, !rest.contains(where: \.isWhitespace) else {
            throw ValueError("'\(text)' is not a duration (expected e.g. 30s, 15m, 24h, 7d or 1h30m)")
        }
        var milliseconds: Int64 = 0
        while !rest.isEmpty {
            let digits = rest.prefix { $0.isASCII && $0.isNumber }
            guard !digits.isEmpty, let number = Int64(digits) else {
                throw ValueError("'\(text)' is not a duration (expected e.g. 30s, 15m, 24h, 7d or 1h30m)")
            }
            rest = rest.dropFirst(digits.count)
            let letters = rest.prefix { $0.isLetter }
            guard let unit = units.first(where: { $0.0 == letters }) else {
                throw ValueError(letters.isEmpty
                    ? "'\(text)' needs a unit: ms, s, m, h or d (e.g. \(digits)s)"
                    : "'\(text)': unknown unit '\(letters)' (use ms, s, m, h or d)")
            }
            rest = rest.dropFirst(letters.count)
            let (product, overflow) = number.multipliedReportingOverflow(by: unit.1)
            guard !overflow, milliseconds <= Int64.max - product else { throw ValueError("'\(text)' is too long") }
            milliseconds += product
        }
        return .milliseconds(milliseconds)
    }

    static func bool(_ text: String) throws(ValueError) -> Bool {
        switch text.lowercased() {
        case "true", "yes", "on", "1": return true
        case "false", "no", "off", "0": return false
        default: throw ValueError("'\(text)' is not a boolean (use true or false)")
        }
    }

    static func integer(_ text: String, in range: ClosedRange<Int>) throws(ValueError) -> Int {
        guard let value = Int(text) else { throw ValueError("'\(text)' is not a whole number") }
        guard range.contains(value) else {
            throw ValueError("\(value) is out of range (\(range.lowerBound)...\(range.upperBound == Int.max ? "" : String(range.upperBound)))")
        }
        return value
    }

    /// `5` or `5%`: a percentage from 0 to 100.
    static func percentage(_ text: String) throws(ValueError) -> Double {
        let number = text.hasSuffix("%") ? text.dropLast().trimmingWhitespace() : text
        guard let value = Double(number), value.isFinite else { throw ValueError("'\(text)' is not a percentage (e.g. 5 or 5%)") }
        guard (0...100).contains(value) else { throw ValueError("\(text) is not between 0 and 100 percent") }
        return value
    }

    /// An octal file mode such as `0660`.
    static func fileMode(_ text: String) throws(ValueError) -> UInt32 {
        guard text.hasPrefix("0"), let mode = UInt32(text, radix: 8), mode <= 0o777 else {
            throw ValueError("'\(text)' is not an octal file mode such as 0660")
        }
        return mode
    }

    /// A comma-separated list; empty items are dropped.
    static func list(_ text: String) -> [String] {
        text.split(separator: ",").map { $0.trimmingWhitespace() }.filter { !$0.isEmpty }
    }

    static func severity(_ text: String) throws(ValueError) -> Severity {
        guard let severity = Severity(rawValue: text.lowercased()) else {
            throw ValueError("'\(text)' is not a severity (info, warning, high or critical)")
        }
        return severity
    }

    /// `HH:MM-HH:MM`, inclusive, as minutes since midnight (`08:00-18:59` is 480...1139). A
    /// range that wraps midnight (`22:00-06:00`) is allowed.
    static func businessHours(_ text: String) throws(ValueError) -> BusinessHours {
        let parts = text.split(separator: "-").map { $0.trimmingWhitespace() }
        guard parts.count == 2, let start = minutes(parts[0]), let end = minutes(parts[1]) else {
            throw ValueError("'\(text)' is not a time range such as 08:00-18:59")
        }
        return BusinessHours(start: start, end: end)
    }

    private static func minutes(_ text: String) -> Int? {
        let parts = text.split(separator: ":")
        guard parts.count == 2, parts[0].count <= 2, parts[1].count == 2,
              let hour = Int(parts[0]), let minute = Int(parts[1]), (0..<24).contains(hour), (0..<60).contains(minute) else { return nil }
        return hour * 60 + minute
    }

    static func timeZone(_ text: String) throws(ValueError) -> String {
        guard TimeZone(identifier: text) != nil else {
            throw ValueError("'\(text)' is not a time zone name (e.g. UTC or Europe/Berlin)")
        }
        return text
    }

    static func httpURL(_ text: String) throws(ValueError) -> URL {
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https",
              url.host?.isEmpty == false else {
            throw ValueError("'\(text)' is not an http:// or https:// URL")
        }
        return url
    }

    /// `schema.table`; each part an identifier as PostgreSQL stores it (no quoting needed here).
    static func table(_ text: String) throws(ValueError) -> SecureTable {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
            throw ValueError("'\(text)' is not schema.table")
        }
        return SecureTable(schema: String(parts[0]), table: String(parts[1]))
    }

    /// A list of `schema.table`, or `all` (nil).
    static func tablesOrAll(_ text: String) throws(ValueError) -> [SecureTable]? {
        if text.lowercased() == "all" { return nil }
        var tables: [SecureTable] = []
        for item in list(text) { tables.append(try table(item)) }
        guard !tables.isEmpty else { throw ValueError("list at least one schema.table, or 'all'") }
        return tables
    }

    /// A NOTIFY channel: an unquoted identifier of at most 63 bytes.
    static func channel(_ text: String) throws(ValueError) -> String {
        guard let first = text.first, first.isLetter || first == "_", text.utf8.count <= 63,
              text.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }) else {
            throw ValueError("'\(text)' is not a channel name (letters, digits and _, at most 63 bytes)")
        }
        return text
    }
}
