import EssentialsSupport
import FoundationEssentials

/// A five-field cron expression, as pg_cron and Vixie cron read it:
/// `minute hour day-of-month month day-of-week`.
///
/// Fields take `*`, numbers, ranges `a-b`, steps `*/n` and `a-b/n`, and lists `a,b,c`; months
/// and weekdays also take names (`jan`…`dec`, `sun`…`sat`); weekday 0 and 7 are Sunday. When
/// both day-of-month and day-of-week are restricted, a day matching either fires (Vixie
/// rule). `@yearly`, `@annually`, `@monthly`, `@weekly`, `@daily`, `@midnight` and `@hourly`
/// are shorthands. A wall-clock time that does not exist on a daylight-saving change day is
/// skipped that day.
public struct CronSchedule: Sendable, Equatable, CustomStringConvertible {
    /// The expression as written.
    public let expression: String
    let minutes: Set<Int>
    let hours: Set<Int>
    let daysOfMonth: Set<Int>
    let months: Set<Int>
    let daysOfWeek: Set<Int>
    let dayOfMonthRestricted: Bool
    let dayOfWeekRestricted: Bool

    /// A cron expression that cannot be parsed; the message names the field and the token.
    public struct ParseError: Error, Sendable, Equatable, CustomStringConvertible {
        public var description: String
    }

    private static let macros = [
        "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
        "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
    ]
    private static let monthNames = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
    private static let dayNames = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]

    public init(parsing text: String) throws(ParseError) {
        let trimmed = text.trimmingWhitespace()
        let expanded = trimmed.hasPrefix("@") ? Self.macros[trimmed.lowercased()] : trimmed
        guard let expanded else {
            throw ParseError(description: "unknown cron shorthand '\(trimmed)' (use @hourly, @daily, @weekly, @monthly or @yearly)")
        }
        let fields = expanded.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard fields.count == 5 else {
            throw ParseError(description: "'\(trimmed)' has \(fields.count) field(s); cron needs 5: minute hour day-of-month month day-of-week")
        }
        expression = trimmed
        minutes = try Self.field(fields[0], name: "minute", range: 0...59, names: [])
        hours = try Self.field(fields[1], name: "hour", range: 0...23, names: [])
        daysOfMonth = try Self.field(fields[2], name: "day-of-month", range: 1...31, names: [])
        months = try Self.field(fields[3], name: "month", range: 1...12, names: Self.monthNames, nameOffset: 1)
        let weekdays = try Self.field(fields[4], name: "day-of-week", range: 0...7, names: Self.dayNames)
        daysOfWeek = Set(weekdays.map { $0 % 7 })
        dayOfMonthRestricted = !fields[2].hasPrefix("*")
        dayOfWeekRestricted = !fields[4].hasPrefix("*")
    }

    public var description: String { expression }

    public static func == (lhs: CronSchedule, rhs: CronSchedule) -> Bool { lhs.expression == rhs.expression }

    private static func field(_ text: String, name: String, range: ClosedRange<Int>, names: [String], nameOffset: Int = 0) throws(ParseError) -> Set<Int> {
        func value(_ token: Substring) throws(ParseError) -> Int {
            if let number = Int(token) {
                guard range.contains(number) else {
                    throw ParseError(description: "\(name) field: \(number) is outside \(range.lowerBound)-\(range.upperBound)")
                }
                return number
            }
            if let index = names.firstIndex(of: token.lowercased()) { return index + nameOffset }
            throw ParseError(description: "\(name) field: '\(token)' is not a number\(names.isEmpty ? "" : " or a name")")
        }
        var result = Set<Int>()
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            guard !item.isEmpty else { throw ParseError(description: "\(name) field: empty list item in '\(text)'") }
            let stepParts = item.split(separator: "/", omittingEmptySubsequences: false)
            guard stepParts.count <= 2 else { throw ParseError(description: "\(name) field: '\(item)' has more than one '/'") }
            var step = 1
            if stepParts.count == 2 {
                guard let parsed = Int(stepParts[1]), parsed > 0 else {
                    throw ParseError(description: "\(name) field: step '\(stepParts[1])' must be a positive number")
                }
                step = parsed
            }
            let base = stepParts[0]
            var lower = range.lowerBound, upper = range.upperBound
            if base != "*" {
                let bounds = base.split(separator: "-", omittingEmptySubsequences: false)
                guard bounds.count <= 2, !bounds.contains(where: \.isEmpty) else {
                    throw ParseError(description: "\(name) field: '\(base)' is not a value or a range")
                }
                lower = try value(bounds[0])
                upper = bounds.count == 2 ? try value(bounds[1]) : (stepParts.count == 2 ? range.upperBound : lower)
                guard lower <= upper else { throw ParseError(description: "\(name) field: range '\(base)' runs backwards") }
            }
            result.formUnion(stride(from: lower, through: upper, by: step))
        }
        return result
    }

    private func dayMatches(day: Int, weekday: Int) -> Bool {
        let dom = daysOfMonth.contains(day), dow = daysOfWeek.contains(weekday)
        if dayOfMonthRestricted && dayOfWeekRestricted { return dom || dow }
        return dom && dow
    }

    /// The first time after `date` (strictly, at a whole minute) when the schedule fires,
    /// reading its fields as wall-clock time in `timeZone`; nil if it never fires (e.g. `0 0 31 2 *`).
    public func next(after date: Date, in timeZone: TimeZone) -> Date? {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        var candidate = Date(timeIntervalSince1970: (date.timeIntervalSince1970 / 60).rounded(.down) * 60 + 60)
        let horizon = date.addingTimeInterval(5 * 366 * 86_400)
        while candidate < horizon {
            let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute, .weekday], from: candidate)
            guard let year = parts.year, let month = parts.month, let day = parts.day, let hour = parts.hour,
                  let minute = parts.minute, let weekday = parts.weekday else { return nil }
            if !months.contains(month) {
                guard let next = calendar.date(from: DateComponents(year: year, month: month + 1, day: 1)) else { return nil }
                candidate = next
            } else if !dayMatches(day: day, weekday: weekday - 1) {
                guard let next = calendar.date(byAdding: .day, value: 1, to: calendar.startOfDay(for: candidate)) else { return nil }
                candidate = next
            } else if !hours.contains(hour) {
                candidate = candidate.addingTimeInterval(Double(60 - minute) * 60)
            } else if let nextMinute = minutes.filter({ $0 >= minute }).min() {
                if nextMinute == minute { return candidate }
                candidate = candidate.addingTimeInterval(Double(nextMinute - minute) * 60)
            } else {
                candidate = candidate.addingTimeInterval(Double(60 - minute) * 60)
            }
        }
        return nil
    }
}
