import Foundation

/// How to reach the database.
public struct PostgresConfiguration: Sendable, Equatable {
    /// A libpq keyword/value string (`host=/run/postgresql dbname=app`) or a
    /// `postgresql://` URI. Anything it leaves out comes from PG* environment variables,
    /// `~/.pgpass`, service files and libpq's defaults, exactly as for psql.
    public var conninfo: String
    /// A file holding only the password (a trailing newline is ignored), e.g. a systemd credential.
    public var passwordFile: String?
    public var connectTimeout: Duration?
    /// Applied to every statement of the connection (`SET statement_timeout`).
    public var statementTimeout: Duration?
    public var applicationName: String

    public init(conninfo: String, passwordFile: String? = nil, connectTimeout: Duration? = nil,
                statementTimeout: Duration? = nil, applicationName: String = "c77-secure-dbd") {
        self.conninfo = conninfo
        self.passwordFile = passwordFile
        self.connectTimeout = connectTimeout
        self.statementTimeout = statementTimeout
        self.applicationName = applicationName
    }

    /// The keyword/value pairs for `PQconnectdbParams` (with `expand_dbname`, so `dbname`
    /// carries the whole conninfo string or URI and later pairs fill what it leaves out).
    func connectParameters() throws(PostgresError) -> [(String, String)] {
        var parameters: [(String, String)] = [("dbname", conninfo)]
        if let connectTimeout {
            parameters.append(("connect_timeout", String(max(2, Int(connectTimeout.components.seconds)))))
        }
        if ProcessInfo.processInfo.environment["PGAPPNAME"] == nil {
            parameters.append(("fallback_application_name", applicationName))
        }
        if let passwordFile {
            do {
                var password = try String(contentsOfFile: passwordFile, encoding: .utf8)
                while password.hasSuffix("\n") || password.hasSuffix("\r") { password.removeLast() }
                parameters.append(("password", password))
            } catch {
                throw PostgresError(.connectionFailed, message: "cannot read password_file \(passwordFile): \(error.localizedDescription)")
            }
        }
        return parameters
    }
}
