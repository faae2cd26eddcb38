import ControlSocket
import Foundation
import Glibc
import LocalReceivers

/// Reads the journald stand-in all the time the daemon runs. The daemon's journal writes block
/// once the socket's queue is full (`net.unix.max_dgram_qlen`, 10 here), so a test that waits
/// for a job while many alerts go out must keep reading, or the daemon stalls mid-job.
final class JournalRecorder: @unchecked Sendable {
    private let listener: DatagramListener
    private let lock = NSLock()
    private var entries: [[String: String]] = []
    private var stopped = false
    private let finished = DispatchSemaphore(value: 0)

    init(_ listener: DatagramListener) {
        self.listener = listener
        let thread = Thread { [self] in
            while !lock.withLock({ stopped }) {
                if let data = listener.receive(timeout: .milliseconds(200)) {
                    let entry = JournalEntryParser.parse(data)
                    lock.withLock { entries.append(entry) }
                }
            }
            finished.signal()
        }
        thread.start()
    }

    /// How many entries were read so far: a mark for `alerts(since:)`.
    var mark: Int { lock.withLock { entries.count } }

    /// Waits until every datagram sent to the journal before this call has been read, by
    /// sending one of our own through the same (first in, first out) queue.
    func sync(timeout: Duration = .seconds(60)) throws {
        let token = UUID().uuidString
        try Self.sendDatagram("C77_TEST_SYNC=\(token)\n", to: listener.path)
        let seen = eventually(timeout: timeout) { lock.withLock { entries.contains { $0["C77_TEST_SYNC"] == token } } }
        guard seen else { throw HarnessError("the journal stand-in did not catch up within \(timeout)") }
    }

    /// The alert entries read since `mark`, in the order the daemon sent them.
    func alerts(since mark: Int = 0) -> [[String: String]] {
        lock.withLock { entries[min(mark, entries.count)...].filter { $0["C77_ALERT_TYPE"] != nil } }
    }

    /// Stops reading (call it once the daemon has stopped: the thread holds on to the recorder).
    func stop() {
        guard !lock.withLock({ let was = stopped; stopped = true; return was }) else { return }
        finished.wait()
    }

    private static func sendDatagram(_ text: String, to path: String) throws {
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { throw HarnessError("socket: \(errno)") }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in bytes.prefix(raw.count - 1).enumerated() { raw[index] = byte }
        }
        let payload = Array(text.utf8)
        let sent = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                sendto(fd, payload, payload.count, 0, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard sent == payload.count else { throw HarnessError("sendto \(path): \(errno)") }
    }
}

/// What the integrity tests read back from a running daemon: its job runs and its recent alerts.
extension DaemonHarness {
    /// The job's entry in `jobs`.
    func jobSnapshot(_ job: String) -> JSONValue? {
        guard case .success(let jobs)? = try? send(ControlRequest(cmd: "jobs")) else { return nil }
        return jobs.arrayValue?.first { $0["name"]?.stringValue == job }
    }

    /// The last finished run of a job, as `jobs` reports it.
    func lastRun(_ job: String) -> JSONValue? { jobSnapshot(job)?["last_run"] }

    /// How many runs of the job have finished.
    func finishedRuns(_ job: String) -> Int { jobSnapshot(job)?["counters"]?["runs"]?.intValue ?? 0 }

    /// Waits until more than `runs` runs of `job` have finished; returns the last one.
    func waitForRun(_ job: String, after runs: Int, timeout: Duration = .seconds(120)) throws -> JSONValue {
        guard eventually(timeout: timeout, { finishedRuns(job) > runs }), let run = lastRun(job) else {
            throw HarnessError("no run of \(job) finished within \(timeout); log:\n\(log())")
        }
        return run
    }

    /// Asks for a run of `job` over the control socket and waits until it finished successfully.
    func runAndWait(_ job: String, timeout: Duration = .seconds(120)) throws -> JSONValue {
        let runs = finishedRuns(job)
        guard case .success = try send(ControlRequest(cmd: "run", args: ["job": .string(job)])) else {
            throw HarnessError("'run \(job)' was refused")
        }
        let run = try waitForRun(job, after: runs, timeout: timeout)
        guard run["outcome"]?.stringValue == "success" else {
            throw HarnessError("\(job) did not succeed: \(run); log:\n\(log())")
        }
        return run
    }

    /// Runs SQL in the test database as the superuser.
    @discardableResult
    func sql(_ text: String) throws -> String {
        try cluster.psql(text, database: database)
    }
}

extension [String: String] {
    /// The `C77_DETAILS` field of a journal entry, decoded.
    var details: JSONValue? {
        self["C77_DETAILS"].flatMap { try? JSONDecoder().decode(JSONValue.self, from: Data($0.utf8)) }
    }
}
