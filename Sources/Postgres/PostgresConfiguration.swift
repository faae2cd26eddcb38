/// How to reach the database: a libpq connection string plus the daemon's own settings.
public struct PostgresConfiguration: Sendable {
    /// A libpq keyword/value string (`host=/run/postgresql dbname=app`) or URI
    /// (`postgresql://user@host/app?sslmode=verify-full`). Parsed by libpq itself, so PG* environment
    /// variables, `.pgpass`, `sslmode`, `service=` files all work as users expect. Empty means
    /// "libpq defaults". May contain a password: it is never logged.
    public var conninfo: String
    /// A file containing just the password (one trailing newline is stripped). Overrides a password
    /// in ``conninfo``; its contents are never logged.
    public var passwordFile: String?
    /// Bound on establishing the connection (DNS, TCP, TLS, authentication). When `nil`, the
    /// conninfo's or `PGCONNECT_TIMEOUT`'s `connect_timeout` applies, else no bound.
    public var connectTimeout: Duration?
    /// Applied with `SET statement_timeout` right after connecting; statements running longer fail
    /// with SQLSTATE 57014.
    public var statementTimeout: Duration?
    /// Reported in `pg_stat_activity`, unless the conninfo or `PGAPPNAME` sets `application_name`.
    public var applicationName: String
    /// Statements run on every new connection, after ``statementTimeout`` is applied (e.g. to
    /// pin `search_path`). A failing one fails the connection.
    public var sessionSetup: [String]

    /// Creates a configuration.
    public init(
        conninfo: String, passwordFile: String? = nil, connectTimeout: Duration? = nil,
        statementTimeout: Duration? = nil, applicationName: String = "c77-secure-dbd", sessionSetup: [String] = []
    ) {
        self.conninfo = conninfo
        self.passwordFile = passwordFile
        self.connectTimeout = connectTimeout
        self.statementTimeout = statementTimeout
        self.applicationName = applicationName
        self.sessionSetup = sessionSetup
    }
}
