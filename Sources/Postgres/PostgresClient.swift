import Logging
import Synchronization

/// Keeps one connection to the database alive and lends it out exclusively.
///
/// ``withConnection(_:)`` connects on first use and reconnects when the previous connection ended.
/// Failed connection attempts are reported to the caller (never retried silently) and space out the
/// next attempt with exponential backoff and jitter, from 0.5 s up to ``maximumBackoff``: the next
/// call first waits out that delay. A statement that fails because the connection broke is reported
/// as is (it is not re-run: it may not be idempotent); the next call reconnects.
public final class PostgresClient: Sendable {
    /// What the client's connection is doing, for status reports.
    public enum State: Sendable {
        /// No connection yet, or the last one ended; the next call connects at once.
        case disconnected
        /// Connecting, or waiting to retry after `attempt` failed attempts; `lastError` is the latest failure.
        case connecting(attempt: Int, lastError: PostgresError?)
        /// A connection is established.
        case connected
    }

    private struct Inner {
        var state = State.disconnected
        var connection: PostgresConnection?
        var failures = 0
        var lastError: PostgresError?
        var retryAt: ContinuousClock.Instant?
        var busy = false
        var nextWaiterID: UInt64 = 0
        var waiters: [(id: UInt64, continuation: CheckedContinuation<Void, any Error>)] = []
    }

    /// Where and how to connect.
    public let configuration: PostgresConfiguration
    /// The longest delay between failed connection attempts.
    public let maximumBackoff: Duration
    private let logger: Logger
    private let inner = Mutex(Inner())

    /// Creates a client; it connects on first use.
    public init(configuration: PostgresConfiguration, maximumBackoff: Duration = .seconds(30), logger: Logger) {
        self.configuration = configuration
        self.maximumBackoff = max(maximumBackoff, .milliseconds(500))
        self.logger = logger
    }

    /// The connection's current state.
    public var state: State { inner.withLock { $0.state } }

    /// Runs `body` with exclusive use of the connection (so transactions are safe), connecting first
    /// when needed. Callers queue in order.
    ///
    /// - Throws: The connection attempt's ``PostgresError`` (`connectionFailed`, `timedOut`), `cancelled`
    ///   when the task is cancelled while waiting, or whatever `body` throws.
    public func withConnection<T: Sendable>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        try await acquire()
        defer { release() }
        let connection = try await currentConnection()
        do {
            return try await body(connection)
        } catch {
            if connection.isClosed || (error as? PostgresError)?.isConnectionError == true {
                connection.close()
                inner.withLock { inner in
                    inner.connection = nil
                    inner.state = .disconnected
                }
            }
            throw error
        }
    }

    /// Closes the current connection, if any; a later call reconnects.
    public func close() {
        let connection = inner.withLock { inner in
            defer {
                inner.connection = nil
                inner.state = .disconnected
            }
            return inner.connection
        }
        connection?.close()
    }

    // MARK: - Connecting

    private func currentConnection() async throws -> PostgresConnection {
        let (existing, retryAt) = inner.withLock { ($0.connection, $0.retryAt) }
        if let existing, !existing.isClosed { return existing }
        if let retryAt {
            do {
                try await Task.sleep(until: retryAt, clock: .continuous)
            } catch {
                throw PostgresError(.cancelled, "cancelled while waiting to reconnect")
            }
        }
        inner.withLock { inner in
            inner.connection = nil
            inner.state = .connecting(attempt: inner.failures + 1, lastError: inner.lastError)
        }
        do {
            let connection = try await PostgresConnection.connect(configuration, logger: logger)
            let reconnected = inner.withLock { inner in
                defer {
                    inner.connection = connection
                    inner.state = .connected
                    inner.failures = 0
                    inner.lastError = nil
                    inner.retryAt = nil
                }
                return inner.failures > 0
            }
            if reconnected { logger.info("reconnected to PostgreSQL") }
            return connection
        } catch {
            let failure = error as? PostgresError ?? PostgresError(.connectionFailed, "\(error)")
            guard failure.code != .cancelled else { throw failure }
            let delay = inner.withLock { inner in
                inner.failures += 1
                inner.lastError = failure
                let delay = Self.backoff(failures: inner.failures, maximum: maximumBackoff)
                inner.retryAt = .now + delay
                inner.state = .connecting(attempt: inner.failures, lastError: failure)
                return delay
            }
            logger.warning("cannot connect to PostgreSQL", metadata: [
                "error": .string(failure.description), "retry_in": .stringConvertible(delay),
            ])
            throw failure
        }
    }

    /// Exponential backoff from 0.5 s, capped at `maximum`, with jitter over the upper half.
    static func backoff(failures: Int, maximum: Duration) -> Duration {
        let minimum = Duration.milliseconds(500)
        let exponential = minimum * (1 << min(failures - 1, 20))
        let ceiling = min(exponential, maximum)
        let floor = max(minimum, ceiling / 2)
        let jitter = Double.random(in: 0...1) * Double((ceiling - floor) / .milliseconds(1))
        return floor + .milliseconds(Int64(jitter))
    }

    // MARK: - Exclusive use

    private func acquire() async throws {
        let id = inner.withLock { inner in
            inner.nextWaiterID += 1
            return inner.nextWaiterID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let granted: Bool? = inner.withLock { inner in
                    if Task.isCancelled { return nil }
                    if !inner.busy {
                        inner.busy = true
                        return true
                    }
                    inner.waiters.append((id, continuation))
                    return false
                }
                switch granted {
                case true?: continuation.resume()
                case false?: break
                case nil: continuation.resume(throwing: PostgresError(.cancelled, "cancelled while waiting for the connection"))
                }
            }
        } onCancel: {
            let waiter = inner.withLock { inner in
                inner.waiters.firstIndex { $0.id == id }.map { inner.waiters.remove(at: $0) }
            }
            waiter?.continuation.resume(throwing: PostgresError(.cancelled, "cancelled while waiting for the connection"))
        }
    }

    private func release() {
        let next = inner.withLock { inner in
            guard !inner.waiters.isEmpty else {
                inner.busy = false
                return nil as CheckedContinuation<Void, any Error>?
            }
            return inner.waiters.removeFirst().continuation
        }
        next?.resume()
    }
}
