import FoundationEssentials
import Logging
import Postgres
import Synchronization

/// The daemon's database: one kept-alive connection for jobs, plus the reachability that
/// status shows and that raises and resolves `DATABASE_UNREACHABLE`.
public final class MonitoredDatabase: Sendable {
    /// Reachability as last observed.
    public struct Reachability: Sendable, Codable, Equatable {
        public var reachable: Bool?
        public var since: Date
        public var lastError: String?
        public var database: String?
        public var serverVersion: String?

        enum CodingKeys: String, CodingKey {
            case reachable, since, database
            case lastError = "last_error"
            case serverVersion = "server_version"
        }
    }

    private let client: PostgresClient
    private let configuration: PostgresConfiguration
    private let logger: Logger
    private let alerts: AlertCenter
    private let state = Mutex(Reachability(reachable: nil, since: Date()))

    public init(configuration: PostgresConfiguration, alerts: AlertCenter, logger: Logger) {
        self.client = PostgresClient(configuration: configuration, logger: logger)
        self.configuration = configuration
        self.logger = logger
        self.alerts = alerts
    }

    /// Opens an extra connection, e.g. one per parallel verification worker; the caller closes it.
    public func openConnection() async throws -> PostgresConnection {
        do {
            return try await PostgresConnection.connect(configuration, logger: logger)
        } catch let error as PostgresError where error.isConnectionError {
            await noteUnreachable(error)
            throw error
        }
    }

    /// Reachability for status.
    public var reachability: Reachability { state.withLock { $0 } }

    /// Runs `body` on the job connection, reconnecting first if needed, and records whether
    /// the database could be reached.
    public func withConnection<T: Sendable>(
        _ body: @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        do {
            let result = try await client.withConnection { connection in
                try await self.noteConnected(connection)
                return try await body(connection)
            }
            return result
        } catch let error as PostgresError where error.isConnectionError {
            await noteUnreachable(error)
            throw error
        }
    }

    /// Checks that the database answers (`SELECT 1`), for start-up and status.
    @discardableResult
    public func probe() async -> Bool {
        do {
            _ = try await withConnection { try await $0.query("SELECT 1") }
            return true
        } catch {
            return false
        }
    }

    /// Closes the connection.
    public func close() {
        client.close()
    }

    private func noteConnected(_ connection: PostgresConnection) async throws {
        let wasReachable = state.withLock { $0.reachable }
        guard wasReachable != true else { return }
        let row = try await connection.query("SELECT current_database() AS db, current_setting('server_version') AS version").first
        let database = row?["db"]
        let version = row?["version"]
        state.withLock {
            $0 = Reachability(reachable: true, since: Date(), lastError: nil, database: database, serverVersion: version)
        }
        await alerts.resolve(
            fingerprint: Alert.fingerprint(.databaseUnreachable),
            summary: "Database \(database ?? "") is reachable again"
        )
    }

    private func noteUnreachable(_ error: PostgresError) async {
        let message = error.message
        let database = state.withLock { state -> String? in
            if state.reachable != false { state.since = Date() }
            state.reachable = false
            state.lastError = message
            return state.database
        }
        await alerts.raiseCondition(Alert(
            type: .databaseUnreachable, severity: .critical,
            summary: "Database unreachable: \(message)",
            database: database, details: ["error": .string(message)],
            fingerprint: Alert.fingerprint(.databaseUnreachable)
        ))
    }
}
