import EssentialsSupport
import FoundationEssentials
import Glibc

/// Exponential backoff with jitter, capped, honouring a receiver's `Retry-After`.
public struct RetryPolicy: Sendable, Equatable {
    public var initialDelay: Duration
    public var maxDelay: Duration

    public init(initialDelay: Duration, maxDelay: Duration) {
        self.initialDelay = initialDelay
        self.maxDelay = maxDelay
    }

    /// The wait before attempt `attempt + 1`, after `attempt` failed attempts (1-based):
    /// half of the exponential step fixed, half random ("equal jitter"), never above
    /// `maxDelay`; a `Retry-After` from the receiver wins when longer.
    func delay(afterAttempt attempt: Int, retryAfter: Duration? = nil) -> Duration {
        let base = initialDelay.timeInterval * pow(2, Double(max(attempt - 1, 0)))
        let step = min(base, maxDelay.timeInterval)
        let jittered = step / 2 + Double.random(in: 0...(step / 2))
        let chosen = max(jittered, min(retryAfter?.timeInterval ?? 0, 3600))
        return .milliseconds(Int64(chosen * 1000))
    }

    /// Parses a `Retry-After` header: delay-seconds or an HTTP-date.
    static func parseRetryAfter(_ value: String?, now: Date = Date()) -> Duration? {
        guard let value = value?.trimmingWhitespace(), !value.isEmpty else { return nil }
        if let seconds = Int(value), seconds >= 0 { return .seconds(seconds) }
        guard let date = httpDate(value) else { return nil }
        return .milliseconds(Int64(max(date.timeIntervalSince(now), 0) * 1000))
    }

    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// An IMF-fixdate, the HTTP-date form senders must use (RFC 9110): `Sun, 06 Nov 1994 08:49:37 GMT`.
    private static func httpDate(_ text: String) -> Date? {
        let fields = text.split(separator: " ")
        guard fields.count == 6, fields[0].count == 4, fields[0].hasSuffix(","), fields[5] == "GMT",
              let day = Int(fields[1]), (1...31).contains(day), let month = months.firstIndex(of: String(fields[2])),
              let year = Int(fields[3]), year >= 1970 else { return nil }
        let clock = fields[4].split(separator: ":").compactMap { Int32($0) }
        guard clock.count == 3, clock[0] < 24, clock[1] < 60, clock[2] < 61 else { return nil }
        var parts = tm()
        parts.tm_year = Int32(year - 1900)
        parts.tm_mon = Int32(month)
        parts.tm_mday = Int32(day)
        (parts.tm_hour, parts.tm_min, parts.tm_sec) = (clock[0], clock[1], clock[2])
        return Date(timeIntervalSince1970: TimeInterval(timegm(&parts)))
    }
}
