import Foundation
import Logging

/// Keeps one connection alive for a long-running process: connects on first use, and after
/// the server goes away reconnects on the next use, waiting between failed attempts with
/// exponential backoff and jitter (0.5 s doubling up to `maxReconnectDelay`).
///
/// A statement that fails because the connection broke is reported, not silently retried:
/// only the caller knows whether it is safe to run again.
public actor PostgresClient {
    /// The client's view of its connection, for status output.
    public enum State: Sendable, Equatable {
        case disconnected
        case connected(backendPID: Int32)
        case failing(attempts: Int, lastError: String)
    }

    public let configuration: PostgresConfiguration
    public let maxReconnectDelay: Duration
    private let logger: Logger
    private var connection: PostgresConnection?
    private var failures = 0
    private var lastError: String?
    private var nextAttempt = ContinuousClock.now

    public init(configuration: PostgresConfiguration, maxReconnectDelay: Duration = .seconds(30), logger: Logger) {
        self.configuration = configuration
        self.maxReconnectDelay = maxReconnectDelay
        self.logger = logger
    }

    public var state: State {
        if let connection, !connection.isClosed { return .connected(backendPID: connection.backendPID) }
        if failures > 0 { return .failing(attempts: failures, lastError: lastError ?? "") }
        return .disconnected
    }

    /// Runs `body` with the live connection, connecting first if there is none.
    public func withConnection<T: Sendable>(_ body: @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        let connection = try await liveConnection()
        do {
            return try await body(connection)
        } catch let error as PostgresError where error.isConnectionError {
            drop(connection, because: error)
            throw error
        }
    }

    /// Closes the connection; the next use reconnects.
    public func close() {
        connection?.close()
        connection = nil
    }

    private func liveConnection() async throws -> PostgresConnection {
        if let connection, !connection.isClosed { return connection }
        connection = nil
        if failures > 0 { try await Task.sleep(until: nextAttempt, clock: .continuous) }
        do {
            let fresh = try await PostgresConnection.connect(configuration, logger: logger)
            if failures > 0 { logger.notice("Reconnected to the database after \(failures) failed attempt(s)") }
            failures = 0
            lastError = nil
            connection = fresh
            return fresh
        } catch let error as PostgresError {
            failures += 1
            lastError = error.message
            let base = min(0.5 * pow(2, Double(failures - 1)), Double(maxReconnectDelay.components.seconds))
            nextAttempt = .now + .milliseconds(Int64((base / 2 + Double.random(in: 0...(base / 2))) * 1000))
            throw error
        }
    }

    private func drop(_ broken: PostgresConnection, because error: PostgresError) {
        logger.warning("Database connection lost: \(error.message)")
        broken.close()
        if connection === broken { connection = nil }
    }
}
