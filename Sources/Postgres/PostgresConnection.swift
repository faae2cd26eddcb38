import CLibPQ
import Foundation
import Glibc
import Logging
import Synchronization

/// One libpq connection, owned by a dedicated thread.
///
/// libpq calls block, and a connection must not be used from two threads at once, so every
/// call on this connection runs, in order, on the connection's own thread — never on Swift's
/// cooperative pool. While idle, the thread sleeps in `poll()` on the server socket and a
/// wake-up pipe: a NOTIFY arriving wakes it (and goes to `notifications`), as does new work.
/// Cancelling the task awaiting a statement sends a cancel request (`PQcancel`), so long
/// statements stop promptly.
public final class PostgresConnection: @unchecked Sendable {
    // Fields below are confined to the connection thread, except those behind `shared`.
    private var connection: OpaquePointer?
    private var listening = false
    private let logger: Logger

    /// A unit of work for the connection thread, or its failure if the connection closes first.
    private struct Job: Sendable {
        var run: @Sendable (OpaquePointer?) -> Void
        var fail: @Sendable () -> Void
    }

    /// libpq's cancel handle, usable from any thread.
    private struct CancelHandle: @unchecked Sendable {
        var pointer: OpaquePointer
    }

    private struct Shared: Sendable {
        var work: [Job] = []
        var closed = false
        var cancel: CancelHandle?
    }

    private let shared = Mutex(Shared())
    private let wakeRead: Int32
    private let wakeWrite: Int32
    private let notificationStream: AsyncStream<PostgresNotification>
    private let notificationContinuation: AsyncStream<PostgresNotification>.Continuation

    /// NOTIFY messages for the channels this connection LISTENs to, delivered while idle.
    public var notifications: AsyncStream<PostgresNotification> { notificationStream }

    /// The server's backend process id.
    public private(set) var backendPID: Int32 = 0
    /// The server version, e.g. `150018` for 15.18.
    public private(set) var serverVersion: Int = 0

    private init(logger: Logger) {
        self.logger = logger
        var fds: [Int32] = [0, 0]
        pipe(&fds)
        for fd in fds {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        }
        wakeRead = fds[0]
        wakeWrite = fds[1]
        (notificationStream, notificationContinuation) = AsyncStream.makeStream(of: PostgresNotification.self, bufferingPolicy: .bufferingNewest(10_000))
    }

    /// Connects (libpq's `connect_timeout` bounds the wait) and applies the configured
    /// statement timeout.
    public static func connect(_ configuration: PostgresConfiguration, logger: Logger) async throws -> PostgresConnection {
        let parameters = try configuration.connectParameters()
        let connection = PostgresConnection(logger: logger)
        let thread = Thread { connection.threadMain() }
        thread.name = "c77-libpq"
        thread.start()
        do {
            try await connection.perform { [connection] _ in
                try connection.open(parameters)
            }
            if let timeout = configuration.statementTimeout {
                let milliseconds = timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000
                _ = try await connection.query("SELECT set_config('statement_timeout', $1, false)", [.text(String(milliseconds))])
            }
        } catch {
            connection.close()
            throw error
        }
        return connection
    }

    deinit {
        close()
        Glibc.close(wakeRead)
        Glibc.close(wakeWrite)
    }

    /// Whether `close()` was called or the connection broke.
    public var isClosed: Bool { shared.withLock { $0.closed } }

    /// Runs one statement with bound parameters (text format) and returns its rows.
    public func query(_ sql: String, _ parameters: [PostgresValue] = []) async throws -> PostgresResult {
        try await perform { [self] connection in
            try execute(connection, sql, parameters)
        }
    }

    /// Runs one statement and returns the number of rows it affected.
    @discardableResult
    public func execute(_ sql: String, _ parameters: [PostgresValue] = []) async throws -> Int {
        try await query(sql, parameters).rowsAffected
    }

    /// Starts receiving NOTIFY messages for `channel` (quoted as an identifier).
    public func listen(_ channel: String) async throws {
        try await perform { [self] connection in
            _ = try execute(connection, "LISTEN " + Self.quoteIdentifier(channel), [])
            listening = true
        }
    }

    /// Stops receiving NOTIFY messages for `channel`.
    public func unlisten(_ channel: String) async throws {
        _ = try await query("UNLISTEN " + Self.quoteIdentifier(channel))
    }

    /// Sends a NOTIFY (`pg_notify(channel, payload)`).
    public func notify(channel: String, payload: String) async throws {
        _ = try await query("SELECT pg_notify($1, $2)", [.text(channel), .text(payload)])
    }

    /// Asks the server to cancel the statement running now, if any (safe from any thread).
    public func cancel() {
        shared.withLock { state in
            guard let cancel = state.cancel else { return }
            var buffer = [CChar](repeating: 0, count: 256)
            _ = PQcancel(cancel.pointer, &buffer, 256)
        }
    }

    /// Closes the connection; pending and later calls fail with `.closed`. Idempotent.
    public func close() {
        let pending = shared.withLock { state -> [Job]? in
            guard !state.closed else { return nil }
            state.closed = true
            defer { state.work = [] }
            return state.work
        }
        guard let pending else { return }
        for job in pending { job.fail() }
        wake()
        notificationContinuation.finish()
    }

    /// `"name"` with embedded quotes doubled.
    static func quoteIdentifier(_ name: String) -> String {
        "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    // MARK: - Work hand-off

    /// Runs `body` on the connection thread and returns its result; a nil connection means
    /// the connection closed first. Cancelling the awaiting task cancels the running statement.
    private func perform<T: Sendable>(_ body: @escaping @Sendable (OpaquePointer?) throws -> T) async throws -> T {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
                let job = Job(
                    run: { connection in continuation.resume(with: Result { try body(connection) }) },
                    fail: { continuation.resume(throwing: PostgresError(.closed, message: "the connection is closed")) }
                )
                let accepted = shared.withLock { state -> Bool in
                    guard !state.closed else { return false }
                    state.work.append(job)
                    return true
                }
                if accepted {
                    wake()
                } else {
                    continuation.resume(throwing: PostgresError(.closed, message: "the connection is closed"))
                }
            }
        } onCancel: {
            cancel()
        }
    }

    private func wake() {
        var byte: UInt8 = 1
        _ = write(wakeWrite, &byte, 1)
    }

    // MARK: - The connection thread

    private func threadMain() {
        var drain = [UInt8](repeating: 0, count: 64)
        while true {
            let (job, closed) = shared.withLock { state -> (Job?, Bool) in
                if state.closed { return (nil, true) }
                return (state.work.isEmpty ? nil : state.work.removeFirst(), false)
            }
            if closed { break }
            if let job {
                job.run(connection)
                continue
            }
            var fds = [pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)]
            if listening, let connection, PQsocket(connection) >= 0 {
                fds.append(pollfd(fd: PQsocket(connection), events: Int16(POLLIN), revents: 0))
            }
            _ = poll(&fds, nfds_t(fds.count), -1)
            while read(wakeRead, &drain, drain.count) > 0 {}
            if fds.count > 1, fds[1].revents != 0 {
                deliverNotifications()
            }
        }
        let (cancel, leftover) = shared.withLock { state -> (CancelHandle?, [Job]) in
            defer {
                state.cancel = nil
                state.work = []
            }
            return (state.cancel, state.work)
        }
        leftover.forEach { $0.fail() }
        if let cancel { PQfreeCancel(cancel.pointer) }
        if let connection { PQfinish(connection) }
        connection = nil
    }

    private func open(_ parameters: [(String, String)]) throws {
        let keys = parameters.map { strdup($0.0) }
        let values = parameters.map { strdup($0.1) }
        defer {
            keys.forEach { free($0) }
            values.forEach { free($0) }
        }
        var keyPointers = keys.map { UnsafePointer<CChar>($0) } + [nil]
        var valuePointers = values.map { UnsafePointer<CChar>($0) } + [nil]
        let handle = PQconnectdbParams(&keyPointers, &valuePointers, 1)
        guard let handle, PQstatus(handle) == CONNECTION_OK else {
            let message = handle.map { String(cString: PQerrorMessage($0)).trimmingCharacters(in: .whitespacesAndNewlines) } ?? "out of memory"
            if let handle { PQfinish(handle) }
            throw PostgresError(.connectionFailed, message: message)
        }
        connection = handle
        backendPID = PQbackendPID(handle)
        serverVersion = Int(PQserverVersion(handle))
        let cancel = PQgetCancel(handle).map(CancelHandle.init(pointer:))
        shared.withLock { $0.cancel = cancel }
    }

    private func execute(_ connection: OpaquePointer?, _ sql: String, _ parameters: [PostgresValue]) throws -> PostgresResult {
        guard let connection else { throw PostgresError(.closed, message: "the connection is closed") }
        let texts = parameters.map { $0.wireText.map { strdup($0) } ?? nil }
        defer { texts.forEach { free($0) } }
        var pointers = texts.map { UnsafePointer<CChar>($0) }
        let result = PQexecParams(connection, sql, Int32(parameters.count), nil, &pointers, nil, nil, 0)
        defer { PQclear(result) }
        deliverNotifications()
        guard let result else { throw connectionFailure(connection) }
        switch PQresultStatus(result) {
        case PGRES_TUPLES_OK, PGRES_COMMAND_OK, PGRES_EMPTY_QUERY:
            return decode(result)
        default:
            if PQstatus(connection) != CONNECTION_OK { throw connectionFailure(connection) }
            throw serverError(result)
        }
    }

    private func connectionFailure(_ connection: OpaquePointer) -> PostgresError {
        let message = String(cString: PQerrorMessage(connection)).trimmingCharacters(in: .whitespacesAndNewlines)
        shared.withLock { $0.closed = true }
        notificationContinuation.finish()
        return PostgresError(.connectionLost, message: message.isEmpty ? "server closed the connection" : message)
    }

    private func serverError(_ result: OpaquePointer) -> PostgresError {
        func field(_ code: Int32) -> String? {
            PQresultErrorField(result, code).map { String(cString: $0) }
        }
        let sqlState = field(Int32(UInt8(ascii: "C")))
        let message = field(Int32(UInt8(ascii: "M"))) ?? String(cString: PQresultErrorMessage(result))
        let code: PostgresError.Code = sqlState == "57014" && Task.isCancelled ? .cancelled : .queryFailed
        return PostgresError(code, sqlState: sqlState, message: message,
                             detail: field(Int32(UInt8(ascii: "D"))), hint: field(Int32(UInt8(ascii: "H"))))
    }

    private func decode(_ result: OpaquePointer) -> PostgresResult {
        let columnCount = Int(PQnfields(result)), rowCount = Int(PQntuples(result))
        let columns = (0..<columnCount).map { String(cString: PQfname(result, Int32($0))) }
        var index: [String: Int] = [:]
        for (position, name) in columns.enumerated() where index[name] == nil { index[name] = position }
        var rows: [PostgresRow] = []
        rows.reserveCapacity(rowCount)
        for row in 0..<rowCount {
            let values = (0..<columnCount).map { column -> String? in
                PQgetisnull(result, Int32(row), Int32(column)) == 1 ? nil : String(cString: PQgetvalue(result, Int32(row), Int32(column)))
            }
            rows.append(PostgresRow(columnIndex: index, values: values))
        }
        let affected = Int(String(cString: PQcmdTuples(result))) ?? 0
        return PostgresResult(columns: columns, rows: rows, rowsAffected: affected)
    }

    private func deliverNotifications() {
        guard let connection else { return }
        if PQconsumeInput(connection) == 0 {
            logger.debug("PQconsumeInput failed: \(String(cString: PQerrorMessage(connection)))")
        }
        while let notice = PQnotifies(connection) {
            let event = notice.pointee
            notificationContinuation.yield(PostgresNotification(
                channel: String(cString: event.relname), payload: String(cString: event.extra), pid: event.be_pid
            ))
            PQfreemem(notice)
        }
        if PQstatus(connection) != CONNECTION_OK {
            shared.withLock { $0.closed = true }
            notificationContinuation.finish()
        }
    }
}
