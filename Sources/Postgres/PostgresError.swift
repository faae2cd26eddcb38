/// A failure talking to PostgreSQL, with the server's own words when it sent any.
public struct PostgresError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure it is.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        let name: String
        public var description: String { name }

        /// The connection could not be established.
        public static let connectionFailed = Code(name: "connection failed")
        /// An established connection broke (server restart, network).
        public static let connectionLost = Code(name: "connection lost")
        /// The server refused or failed the statement; see `sqlState`.
        public static let queryFailed = Code(name: "query failed")
        /// The statement was cancelled because the awaiting task was.
        public static let cancelled = Code(name: "cancelled")
        /// The connection was closed by this process.
        public static let closed = Code(name: "closed")
        /// A column did not hold what the caller asked for.
        public static let decoding = Code(name: "decoding")
    }

    public var code: Code
    /// The SQLSTATE, e.g. `57014` for a statement timeout or cancel, `23505` for a unique violation.
    public var sqlState: String?
    /// The primary message (the server's, when it sent one).
    public var message: String
    public var detail: String?
    public var hint: String?
    public var file: String
    public var line: Int

    public init(_ code: Code, sqlState: String? = nil, message: String, detail: String? = nil, hint: String? = nil,
                file: String = #fileID, line: Int = #line) {
        self.code = code
        self.sqlState = sqlState
        self.message = message
        self.detail = detail
        self.hint = hint
        self.file = file
        self.line = line
    }

    /// Whether the failure is about reaching the server rather than about the statement.
    public var isConnectionError: Bool {
        code == .connectionFailed || code == .connectionLost || code == .closed
            || sqlState?.hasPrefix("08") == true || sqlState == "57P01" || sqlState == "57P02" || sqlState == "57P03"
    }

    public var description: String {
        var text = sqlState.map { "\(message) (SQLSTATE \($0))" } ?? "\(code): \(message)"
        if let detail { text += "; detail: \(detail)" }
        if let hint { text += "; hint: \(hint)" }
        return text
    }
}
