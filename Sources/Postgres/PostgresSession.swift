import CLibPQ
import EssentialsSupport
import FoundationEssentials
import Glibc
import Logging

/// Owns one `PGconn` and performs every libpq call for it, serially, on the connection's own
/// thread (libpq connections are not thread-safe, and its calls must never block Swift's
/// cooperative pool). Uses libpq's non-blocking API and waits in `poll()` on the server socket
/// plus the mailbox's wake-up pipe, so close, cancel and new work are noticed at once.
final class PostgresSession {
    private let mailbox: PostgresMailbox
    private let notifications: AsyncStream<PostgresNotification>.Continuation
    private let logger: Logger
    private var connection: OpaquePointer?
    private var cancelHandle: OpaquePointer?
    private var noticeSink: Unmanaged<NoticeSink>?

    /// Receives server notices and warnings (libpq would print them to stderr).
    private final class NoticeSink {
        let logger: Logger
        init(logger: Logger) { self.logger = logger }
    }

    private struct Readiness {
        var socket = false
        var woken = false
        var timedOut: Bool { !socket && !woken }
    }

    init(
        mailbox: PostgresMailbox, notifications: AsyncStream<PostgresNotification>.Continuation, logger: Logger
    ) {
        self.mailbox = mailbox
        self.notifications = notifications
        self.logger = logger
    }

    // MARK: - Connecting

    /// Connects, applies the statement timeout, and returns the server version and backend pid.
    func connect(_ configuration: PostgresConfiguration) throws -> (serverVersion: Int, backendPID: Int32) {
        var keywords = ["fallback_application_name", "dbname"]
        var values = [configuration.applicationName, configuration.conninfo]
        if let path = configuration.passwordFile {
            keywords.append("password")
            values.append(try Self.readPassword(path))
        }
        connection = Self.withCStrings(keywords + [nil]) { keywords in
            Self.withCStrings(values + [nil]) { values in PQconnectStartParams(keywords, values, 1) }
        }
        guard let connection else { throw PostgresError(.connectionFailed, "libpq could not allocate a connection") }
        guard PQstatus(connection) != CONNECTION_BAD else { throw PostgresError(.connectionFailed, errorMessage()) }

        let timeout = configuration.connectTimeout ?? conninfoConnectTimeout()
        let deadline = timeout.map { ContinuousClock.now + $0 }
        var status = PGRES_POLLING_WRITING
        while status != PGRES_POLLING_OK {
            guard status != PGRES_POLLING_FAILED else { throw PostgresError(.connectionFailed, errorMessage()) }
            let ready = wait(read: status == PGRES_POLLING_READING, write: status == PGRES_POLLING_WRITING, until: deadline)
            if mailbox.isClosing { throw PostgresError(.cancelled, "connecting was cancelled") }
            if ready.timedOut, let timeout {
                throw PostgresError(.timedOut, "connecting timed out after \(timeout)")
            }
            if ready.socket { status = PQconnectPoll(connection) }
        }

        let sink = Unmanaged.passRetained(NoticeSink(logger: logger))
        noticeSink = sink
        PQsetNoticeProcessor(connection, { context, message in
            guard let context, let message else { return }
            let sink = Unmanaged<NoticeSink>.fromOpaque(context).takeUnretainedValue()
            let text = String(cString: message).trimmingWhitespace()
            if text.hasPrefix("WARNING") {
                sink.logger.warning("\(text)")
            } else {
                sink.logger.debug("\(text)")
            }
        }, sink.toOpaque())
        cancelHandle = PQgetCancel(connection)

        if let statementTimeout = configuration.statementTimeout {
            _ = try run("SELECT pg_catalog.set_config('statement_timeout', $1, false)", [.text(String(Self.milliseconds(statementTimeout)))])
        }
        for statement in configuration.sessionSetup {
            _ = try run(statement, [])
        }
        let info = (serverVersion: Int(PQserverVersion(connection)), backendPID: PQbackendPID(connection))
        logger.debug("connected to PostgreSQL", metadata: [
            "db": .string(String(cString: PQdb(connection))), "user": .string(String(cString: PQuser(connection))),
            "backend_pid": .stringConvertible(info.backendPID), "server_version": .stringConvertible(info.serverVersion),
        ])
        return info
    }

    private static func readPassword(_ path: String) throws -> String {
        do {
            var password = try String(contentsOfFile: path, encoding: .utf8)
            if password.hasSuffix("\n") { password.removeLast() }  // "\r\n" is one Character
            return password
        } catch {
            throw PostgresError(.connectionFailed, "cannot read password_file \(path): \(error.systemDescription)")
        }
    }

    /// `connect_timeout` from the conninfo or `PGCONNECT_TIMEOUT`, as libpq reads it (minimum 2 s).
    private func conninfoConnectTimeout() -> Duration? {
        guard let connection, let options = PQconninfo(connection) else { return nil }
        defer { PQconninfoFree(options) }
        var option = options
        while let keyword = option.pointee.keyword {
            if String(cString: keyword) == "connect_timeout" {
                guard let value = option.pointee.val, let seconds = Int(String(cString: value)), seconds > 0 else { return nil }
                return .seconds(max(2, seconds))
            }
            option += 1
        }
        return nil
    }

    // MARK: - Serving

    /// Runs jobs until the connection is closed or lost, delivering notifications while idle.
    func serve() {
        while true {
            switch mailbox.next() {
            case .close:
                end(PostgresError(.closed, "the connection is closed"))
                return
            case .job(let job):
                let outcome = Result { try run(job.sql, job.parameters) }
                let cancelRequested = mailbox.finishRunning()
                // A broken connection, or a statement still active (abandoned on close, or COPY), ends
                // the connection before the caller hears of the failure, so it sees `isClosed`.
                let ending = connection.map { PQstatus($0) == CONNECTION_BAD || PQtransactionStatus($0) == PQTRANS_ACTIVE } ?? true
                if ending {
                    end(mailbox.isClosing ? PostgresError(.closed, "the connection is closed") : lostError())
                }
                job.continuation.resume(with: outcome.mapError { error in
                    guard var error = error as? PostgresError else { return error }
                    if cancelRequested, error.sqlState == "57014" { error.code = .cancelled }
                    return error
                })
                if ending { return }
            case .idle:
                let ready = wait(read: true, write: false, until: nil)
                if ready.socket {
                    guard let connection, PQconsumeInput(connection) == 1, PQstatus(connection) != CONNECTION_BAD else {
                        end(lostError())
                        return
                    }
                    deliverNotifications()
                }
            }
        }
    }

    /// Fails whatever is queued with `reason`, closes the connection and ends the notification stream.
    func end(_ reason: PostgresError) {
        for job in mailbox.end(reason) {
            job.continuation.resume(throwing: reason)
        }
        if reason.code == .connectionLost {
            logger.warning("PostgreSQL connection lost", metadata: ["error": .string(reason.description)])
        }
        if let cancelHandle { PQfreeCancel(cancelHandle) }
        if let connection { PQfinish(connection) }
        noticeSink?.release()
        cancelHandle = nil
        connection = nil
        noticeSink = nil
        notifications.finish()
    }

    // MARK: - Statements

    /// Sends one statement with bound text parameters (extended protocol, like `PQexecParams`) and
    /// waits for its result, cancelling it on the server when asked.
    private func run(_ sql: String, _ parameters: [PostgresValue]) throws -> PostgresResult {
        guard let connection else { throw PostgresError(.closed, "the connection is closed") }
        let texts: [String?] = parameters.map { parameter in
            if case .text(let text) = parameter { text } else { nil }
        }
        if let index = texts.firstIndex(where: { $0?.utf8.contains(0) == true }) {
            throw PostgresError(.invalidParameter, "parameter $\(index + 1) contains a NUL byte, which PostgreSQL text cannot hold")
        }
        let sent = Self.withCStrings(texts) { values in
            PQsendQueryParams(connection, sql, Int32(texts.count), nil, values, nil, nil, 0)
        }
        guard sent == 1 else { throw PQstatus(connection) == CONNECTION_BAD ? lostError() : PostgresError(.queryFailed, errorMessage()) }

        var cancelSent = false
        while true {
            let flushed = PQflush(connection)
            if flushed == 0 { break }
            if flushed < 0 { throw lostError() }
            try awaitSocket(write: true, cancelSent: &cancelSent)
        }
        var result: PostgresResult?
        var failure: PostgresError?
        while true {
            if PQisBusy(connection) == 0 {
                guard let pgResult = PQgetResult(connection) else { break }
                defer { PQclear(pgResult) }
                switch PQresultStatus(pgResult) {
                case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY:
                    result = Self.makeResult(pgResult)
                case PGRES_FATAL_ERROR, PGRES_NONFATAL_ERROR:
                    failure = failure ?? Self.serverError(pgResult)
                default:
                    // COPY and friends: unsupported. The statement stays active, so the connection is closed.
                    let status = String(cString: PQresStatus(PQresultStatus(pgResult)))
                    throw PostgresError(.queryFailed, "unsupported result \(status); the connection is closed")
                }
                continue
            }
            deliverNotifications()
            try awaitSocket(write: false, cancelSent: &cancelSent)
        }
        deliverNotifications()
        if PQstatus(connection) == CONNECTION_BAD {
            var lost = failure ?? lostError()
            lost.code = .connectionLost
            throw lost
        }
        if let failure { throw failure }
        return result ?? PostgresResult(columns: [], rows: [], rowsAffected: 0, commandTag: "")
    }

    /// Waits for the socket while a statement is in flight, honouring cancel and close requests.
    private func awaitSocket(write: Bool, cancelSent: inout Bool) throws {
        let ready = wait(read: true, write: write, until: nil)
        if ready.woken {
            if mailbox.isClosing {
                if !cancelSent { sendCancel() }
                throw PostgresError(.closed, "the connection was closed while a statement was running")
            }
            if mailbox.cancelRequested, !cancelSent {
                sendCancel()
                cancelSent = true
            }
        }
        if ready.socket, let connection, PQconsumeInput(connection) == 0 {
            throw lostError()
        }
    }

    private func sendCancel() {
        guard let cancelHandle else { return }
        var buffer = [CChar](repeating: 0, count: 256)
        if PQcancel(cancelHandle, &buffer, Int32(buffer.count)) == 0 {
            logger.warning("cancel request failed", metadata: ["error": .string(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))])
        }
    }

    private func deliverNotifications() {
        guard let connection else { return }
        while let notify = PQnotifies(connection) {
            notifications.yield(PostgresNotification(
                channel: String(cString: notify.pointee.relname),
                payload: String(cString: notify.pointee.extra),
                pid: notify.pointee.be_pid
            ))
            PQfreemem(notify)
        }
    }

    // MARK: - Waiting

    /// Polls the server socket (when there is one) and the wake-up pipe, until `deadline` if given.
    private func wait(read: Bool, write: Bool, until deadline: ContinuousClock.Instant?) -> Readiness {
        var descriptors = [pollfd(fd: mailbox.wakeDescriptor, events: Int16(POLLIN), revents: 0)]
        if let connection, PQsocket(connection) >= 0 {
            let events = (read ? POLLIN : 0) | (write ? POLLOUT : 0)
            descriptors.append(pollfd(fd: PQsocket(connection), events: Int16(events), revents: 0))
        }
        while true {
            var timeout: Int32 = -1
            if let deadline {
                timeout = Int32(clamping: max(0, Self.milliseconds(deadline - .now)))
            }
            let count = poll(&descriptors, nfds_t(descriptors.count), timeout)
            if count < 0, errno == EINTR { continue }
            if count < 0 { return Readiness(socket: true) }  // let libpq report the socket's error
            var ready = Readiness()
            if descriptors[0].revents != 0 {
                mailbox.drainWakeUps()
                ready.woken = true
            }
            ready.socket = descriptors.count > 1 && descriptors[1].revents != 0
            return ready
        }
    }

    // MARK: - Conversions

    private func errorMessage() -> String {
        guard let connection, let message = PQerrorMessage(connection) else { return "unknown libpq error" }
        return String(cString: message).trimmingWhitespace()
    }

    private func lostError() -> PostgresError {
        PostgresError(.connectionLost, errorMessage())
    }

    private static func serverError(_ result: OpaquePointer) -> PostgresError {
        func field(_ code: Character) -> String? {
            PQresultErrorField(result, Int32(code.asciiValue!)).map { String(cString: $0) }
        }
        let fallback = String(cString: PQresultErrorMessage(result)).trimmingWhitespace()
        return PostgresError(
            .queryFailed, field("M") ?? fallback, sqlState: field("C"), detail: field("D"), hint: field("H")
        )
    }

    private static func makeResult(_ result: OpaquePointer) -> PostgresResult {
        let fieldCount = PQnfields(result)
        let columns = (0..<fieldCount).map { String(cString: PQfname(result, $0)) }
        let rows = (0..<PQntuples(result)).map { row in
            (0..<fieldCount).map { column -> String? in
                PQgetisnull(result, row, column) == 1 ? nil : String(cString: PQgetvalue(result, row, column))
            }
        }
        return PostgresResult(
            columns: columns, rows: rows,
            rowsAffected: Int(String(cString: PQcmdTuples(result))) ?? 0,
            commandTag: String(cString: PQcmdStatus(result))
        )
    }

    private static func milliseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
    }

    /// Calls `body` with a C array of copies of `strings` (`nil` stays a null pointer).
    private static func withCStrings<R>(_ strings: [String?], _ body: (UnsafePointer<UnsafePointer<CChar>?>?) -> R) -> R {
        let copies: [UnsafePointer<CChar>?] = strings.map { $0.map { UnsafePointer(strdup($0)!) } }
        defer { copies.forEach { free(UnsafeMutablePointer(mutating: $0)) } }
        return copies.withUnsafeBufferPointer { body($0.baseAddress) }
    }
}
