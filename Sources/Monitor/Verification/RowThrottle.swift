import FoundationEssentials

/// Limits verification to `max_rows_per_second` across all workers (a token bucket holding
/// at most one second's worth of rows). A rate of 0 means unthrottled.
actor RowThrottle {
    private let rate: Double
    private var available: Double
    private var last = ContinuousClock.now

    init(rowsPerSecond: Int) {
        rate = Double(rowsPerSecond)
        available = Double(rowsPerSecond)
    }

    /// Waits until `rows` may be verified.
    func acquire(_ rows: Int) async throws {
        guard rate > 0 else { return }
        let now = ContinuousClock.now
        available = min(rate, available + (now - last).timeInterval * rate)
        last = now
        available -= Double(rows)
        if available < 0 {
            let wait = -available / rate
            try await Task.sleep(for: .milliseconds(Int64(wait * 1000)))
        }
    }
}
