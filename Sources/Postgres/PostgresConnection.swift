import EssentialsSupport
import FoundationEssentials
import Logging

/// One PostgreSQL connection over libpq.
///
/// Every libpq call for the connection runs on the connection's own dedicated thread, serially;
/// callers await results through continuations, so no blocking call ever occupies Swift's
/// cooperative thread pool. The thread uses libpq's non-blocking API and sleeps in `poll()` on the
/// server socket plus a wake-up pipe: notifications arrive while idle without busy-waiting, and
/// close, cancel and new statements are noticed at once.
///
/// Statements queue and run one at a time in submission order. Cancelling the awaiting `Task`
/// cancels its statement (on the server when it is already running). The connection ends when
/// ``close()`` is called, when it is deinitialized, or when the server goes away; after that every
/// call throws (``PostgresError/isConnectionError`` is true) and ``notifications`` finishes.
public final class PostgresConnection: Sendable {
    /// The server version as libpq reports it, e.g. `150018` for 15.18.
    public let serverVersion: Int
    /// The process id of the server backend serving this connection.
    public let backendPID: Int32
    /// Notifications for the channels this connection LISTENs on, delivered while idle and between
    /// statements. One consumer; buffers the newest 10 000. Finishes when the connection ends.
    public let notifications: AsyncStream<PostgresNotification>
    private let mailbox: PostgresMailbox

    private init(mailbox: PostgresMailbox, notifications: AsyncStream<PostgresNotification>, serverVersion: Int, backendPID: Int32) {
        self.mailbox = mailbox
        self.notifications = notifications
        self.serverVersion = serverVersion
        self.backendPID = backendPID
    }

    deinit {
        mailbox.close()
    }

    /// Connects to the database `configuration` describes.
    ///
    /// - Throws: ``PostgresError`` with code `connectionFailed` (with libpq's message), `timedOut`
    ///   (connect timeout), or `cancelled` (the task was cancelled while connecting).
    public static func connect(_ configuration: PostgresConfiguration, logger: Logger) async throws -> PostgresConnection {
        let mailbox = try PostgresMailbox()
        let (stream, continuation) = AsyncStream.makeStream(
            of: PostgresNotification.self, bufferingPolicy: .bufferingNewest(10_000)
        )
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (connected: CheckedContinuation<PostgresConnection, any Error>) in
                DetachedThread.start(name: "c77-postgres") {
                    let session = PostgresSession(mailbox: mailbox, notifications: continuation, logger: logger)
                    do {
                        let info = try session.connect(configuration)
                        connected.resume(returning: PostgresConnection(
                            mailbox: mailbox, notifications: stream,
                            serverVersion: info.serverVersion, backendPID: info.backendPID
                        ))
                    } catch {
                        session.end(error as? PostgresError ?? PostgresError(.connectionFailed, "\(error)"))
                        connected.resume(throwing: error)
                        return
                    }
                    session.serve()
                }
            }
        } onCancel: {
            mailbox.close()
        }
    }

    /// Runs one statement with bound parameters (`$1`, `$2`, …; never interpolated) and returns its rows.
    ///
    /// - Throws: ``PostgresError``: `queryFailed` with the server's SQLSTATE, message, detail and hint;
    ///   `cancelled` when the task was cancelled; `connectionLost` or `closed`.
    public func query(_ sql: String, _ parameters: [PostgresValue] = []) async throws -> PostgresResult {
        let id = mailbox.allocateID()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                mailbox.submit(PostgresJob(id: id, sql: sql, parameters: parameters, continuation: continuation))
            }
        } onCancel: {
            mailbox.cancel(id: id)
        }
    }

    /// Runs one statement with bound parameters and returns the number of rows it affected.
    @discardableResult
    public func execute(_ sql: String, _ parameters: [PostgresValue] = []) async throws -> Int {
        try await query(sql, parameters).rowsAffected
    }

    /// Starts listening on `channel` (quoted as an identifier, so any name is safe and case is kept).
    public func listen(_ channel: String) async throws {
        try await execute("LISTEN " + Self.quoteIdentifier(channel))
    }

    /// Stops listening on `channel`.
    public func unlisten(_ channel: String) async throws {
        try await execute("UNLISTEN " + Self.quoteIdentifier(channel))
    }

    /// Sends a notification with `SELECT pg_notify($1, $2)` (delivered when the transaction commits).
    public func notify(channel: String, payload: String = "") async throws {
        try await execute("SELECT pg_notify($1, $2)", [.text(channel), .text(payload)])
    }

    /// Asks the server to cancel the statement running now, if any (safe from any thread).
    public func cancel() {
        mailbox.cancelRunning()
    }

    /// Closes the connection: queued statements fail with `closed`, a running one is cancelled, and
    /// the connection's thread ends. Idempotent.
    public func close() {
        mailbox.close()
    }

    /// True once ``close()`` was called or the connection ended (closed or lost).
    public var isClosed: Bool { mailbox.isClosed }

    /// `name` as a double-quoted SQL identifier.
    static func quoteIdentifier(_ name: String) -> String {
        "\"" + name.replacing("\"", with: "\"\"") + "\""
    }
}
