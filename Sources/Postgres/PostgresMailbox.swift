import Glibc
import Synchronization

/// The only state shared between a ``PostgresConnection`` (any thread or task) and its dedicated
/// libpq thread: a job queue, cancel and close requests under a mutex, and a wake-up pipe the
/// thread polls next to the server socket, so an idle connection sleeps in `poll()` without
/// busy-waiting and still reacts at once to new work, cancellation and close.
final class PostgresMailbox: Sendable {
    enum Next {
        case job(PostgresJob)
        case idle
        case close
    }

    private struct State {
        var nextID: UInt64 = 1
        /// Ids handed out whose job has not been submitted yet, and those among them already cancelled.
        var allocated: Set<UInt64> = []
        var cancelledEarly: Set<UInt64> = []
        var queue: [PostgresJob] = []
        var running: UInt64?
        var cancelRunning = false
        var closing = false
        var ended: PostgresError?
    }

    private let state = Mutex(State())
    private let wakeRead: Int32
    private let wakeWrite: Int32

    init() throws {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else {
            throw PostgresError(.connectionFailed, "cannot create wake-up pipe: \(String(cString: strerror(errno)))")
        }
        wakeRead = fds[0]
        wakeWrite = fds[1]
        for fd in fds {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        }
    }

    deinit {
        Glibc.close(wakeRead)
        Glibc.close(wakeWrite)
    }

    /// The descriptor the connection thread polls for wake-ups.
    var wakeDescriptor: Int32 { wakeRead }

    /// True once close was requested or the connection ended.
    var isClosed: Bool { state.withLock { $0.closing || $0.ended != nil } }

    var isClosing: Bool { state.withLock { $0.closing } }

    /// True when a cancel of the running statement was requested.
    var cancelRequested: Bool { state.withLock { $0.cancelRunning } }

    // MARK: Caller side

    func allocateID() -> UInt64 {
        state.withLock { state in
            defer { state.nextID += 1 }
            state.allocated.insert(state.nextID)
            return state.nextID
        }
    }

    /// Queues `job`, or fails it at once when it was cancelled already or the connection is closed.
    func submit(_ job: PostgresJob) {
        let rejection: PostgresError? = state.withLock { state in
            state.allocated.remove(job.id)
            if state.cancelledEarly.remove(job.id) != nil {
                return PostgresError(.cancelled, "the query was cancelled before it was sent")
            }
            if let ended = state.ended { return ended }
            if state.closing { return PostgresError(.closed, "the connection is closed") }
            state.queue.append(job)
            return nil
        }
        if let rejection {
            job.continuation.resume(throwing: rejection)
        } else {
            wake()
        }
    }

    /// Cancels the job `id`: drops it if still queued, cancels it on the server if running.
    func cancel(id: UInt64) {
        let dropped: PostgresJob? = state.withLock { state in
            if state.allocated.contains(id) {
                state.cancelledEarly.insert(id)
            } else if let index = state.queue.firstIndex(where: { $0.id == id }) {
                return state.queue.remove(at: index)
            } else if state.running == id {
                state.cancelRunning = true
            }
            return nil
        }
        if let dropped {
            dropped.continuation.resume(throwing: PostgresError(.cancelled, "the query was cancelled before it was sent"))
        } else {
            wake()
        }
    }

    /// Cancels whatever statement is running now, if any.
    func cancelRunning() {
        state.withLock { state in
            if state.running != nil { state.cancelRunning = true }
        }
        wake()
    }

    /// Asks the thread to fail queued work, close the connection and end.
    func close() {
        state.withLock { $0.closing = true }
        wake()
    }

    // MARK: Thread side

    /// The next thing the thread should do; marks a returned job as running.
    func next() -> Next {
        state.withLock { state in
            if state.closing { return .close }
            guard !state.queue.isEmpty else { return .idle }
            let job = state.queue.removeFirst()
            state.running = job.id
            state.cancelRunning = false
            return .job(job)
        }
    }

    /// Clears the running job; returns whether its cancellation was requested.
    func finishRunning() -> Bool {
        state.withLock { state in
            defer {
                state.running = nil
                state.cancelRunning = false
            }
            return state.cancelRunning
        }
    }

    /// Records why the connection ended and hands back the jobs still queued.
    func end(_ reason: PostgresError) -> [PostgresJob] {
        state.withLock { state in
            state.ended = reason
            defer { state.queue = [] }
            return state.queue
        }
    }

    func wake() {
        var byte: UInt8 = 1
        _ = write(wakeWrite, &byte, 1)  // EAGAIN means a wake-up is pending already.
    }

    func drainWakeUps() {
        var buffer = [UInt8](repeating: 0, count: 64)
        while read(wakeRead, &buffer, buffer.count) > 0 {}
    }
}
