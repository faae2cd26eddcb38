import Glibc
import Synchronization

/// When the waits of one POST end: at its deadline, or within 50 ms of the caller's
/// cancellation.
final class PostDeadline: Sendable {
    private let end: ContinuousClock.Instant
    private let timeout: Duration
    private let cancelled = Atomic(false)

    init(timeout: Duration) {
        self.timeout = timeout
        self.end = .now + timeout
    }

    /// Makes every current and later wait throw ``HTTPPostError/Code-swift.enum/cancelled``.
    func cancel() {
        cancelled.store(true, ordering: .relaxed)
    }

    /// Waits until `descriptor` is ready for `events` (`POLLIN`, `POLLOUT`).
    func wait(for descriptor: Int32, events: Int16) throws(HTTPPostError) {
        while true {
            guard !cancelled.load(ordering: .relaxed) else { throw HTTPPostError(.cancelled, "cancelled") }
            let remaining = ContinuousClock.now.duration(to: end)
            guard remaining > .zero else { throw HTTPPostError(.timeout, "timed out after \(timeout)") }
            let slice = min(remaining, .milliseconds(50)).components
            var entry = pollfd(fd: descriptor, events: events, revents: 0)
            let ready = poll(&entry, 1, Int32(slice.seconds * 1000 + slice.attoseconds / 1_000_000_000_000_000) + 1)
            if ready > 0 { return }
            if ready < 0 && errno != EINTR {
                throw HTTPPostError(.io, "poll: \(String(cString: strerror(errno)))")
            }
        }
    }
}
