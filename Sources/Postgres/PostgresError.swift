/// An error from the PostgreSQL layer: connection, query, cancellation or decoding.
///
/// Server errors carry the server's fields (`sqlState`, primary `message`, `detail`, `hint`);
/// statement timeouts and cancellations requested elsewhere surface as `queryFailed` with
/// `sqlState == "57014"`.
public struct PostgresError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is. Extensible: match with `==`, never exhaustively.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case connectionFailed, connectionLost, queryFailed, timedOut, cancelled, closed, decoding, invalidParameter
        }

        private let base: Base

        private init(_ base: Base) {
            self.base = base
        }

        /// The connection could not be established (bad conninfo, refused, authentication, …).
        public static let connectionFailed = Code(.connectionFailed)
        /// An established connection broke (server restart, network, terminated backend).
        public static let connectionLost = Code(.connectionLost)
        /// The server rejected a statement; see ``PostgresError/sqlState``.
        public static let queryFailed = Code(.queryFailed)
        /// Connecting took longer than the connect timeout.
        public static let timedOut = Code(.timedOut)
        /// The awaiting task was cancelled (a running statement was cancelled on the server).
        public static let cancelled = Code(.cancelled)
        /// The connection was closed by ``PostgresConnection/close()``.
        public static let closed = Code(.closed)
        /// A column was missing, NULL, or did not hold the requested type.
        public static let decoding = Code(.decoding)
        /// A parameter cannot be sent (e.g. a NUL byte in text).
        public static let invalidParameter = Code(.invalidParameter)

        public var description: String { base.rawValue }
    }

    /// The kind of failure.
    public var code: Code
    /// The primary message (`PG_DIAG_MESSAGE_PRIMARY` for server errors).
    public var message: String
    /// The SQLSTATE (`PG_DIAG_SQLSTATE`), e.g. `42P01`, when the server reported one.
    public var sqlState: String?
    /// The server's optional detail message.
    public var detail: String?
    /// The server's optional hint.
    public var hint: String?
    /// Source file that raised the error.
    public var file: String
    /// Source line that raised the error.
    public var line: Int

    /// Creates an error.
    public init(
        _ code: Code, _ message: String, sqlState: String? = nil, detail: String? = nil, hint: String? = nil,
        file: String = #fileID, line: Int = #line
    ) {
        self.code = code
        self.message = message
        self.sqlState = sqlState
        self.detail = detail
        self.hint = hint
        self.file = file
        self.line = line
    }

    /// True when the connection is unusable and a new one is needed: connecting failed or timed out,
    /// the connection broke or was closed, or the server reported a connection-class SQLSTATE
    /// (class 08, or 57P01–57P03 shutdown/crash).
    public var isConnectionError: Bool {
        if [.connectionFailed, .connectionLost, .timedOut, .closed].contains(code) { return true }
        guard let sqlState else { return false }
        return sqlState.hasPrefix("08") || ["57P01", "57P02", "57P03"].contains(sqlState)
    }

    public var description: String {
        var text = "\(code)"
        if let sqlState { text += " (SQLSTATE \(sqlState))" }
        text += ": \(message)"
        if let detail { text += "; detail: \(detail)" }
        if let hint { text += "; hint: \(hint)" }
        return text
    }
}
