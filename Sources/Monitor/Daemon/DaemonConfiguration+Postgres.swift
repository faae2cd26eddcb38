import MonitorConfig
import Postgres

extension DaemonConfiguration {
    /// How the daemon connects, from `[database]`.
    public var postgresConfiguration: PostgresConfiguration {
        PostgresConfiguration(
            conninfo: database.conninfo,
            passwordFile: database.passwordFile,
            connectTimeout: database.connectTimeout,
            statementTimeout: database.statementTimeout,
            sessionSetup: [Self.pinSearchPath]
        )
    }

    /// Pins the session's `search_path` to `pg_catalog`, the extension's schema and `pg_temp`,
    /// so that the daemon's unqualified calls (`c77_secure_db_verify_range(…)`) cannot be
    /// shadowed by a same-named function or table in a schema its role's path lists first.
    /// Without the extension the path is left as it is (the health check reports it missing).
    /// Every function and operator in it is schema-qualified: it runs under whatever path the
    /// role or database sets, which is what it replaces.
    static let pinSearchPath = """
        SELECT pg_catalog.set_config('search_path', pg_catalog.format('pg_catalog, %I, pg_temp', n.nspname), false)
        FROM pg_catalog.pg_extension AS e JOIN pg_catalog.pg_namespace AS n ON n.oid OPERATOR(pg_catalog.=) e.extnamespace
        WHERE e.extname OPERATOR(pg_catalog.=) 'c77_secure_db'
        """
}
