import Foundation

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
        guard let value = value?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
        if let seconds = Int(value), seconds >= 0 { return .seconds(seconds) }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: value) else { return nil }
        return .milliseconds(Int64(max(date.timeIntervalSince(now), 0) * 1000))
    }
}
