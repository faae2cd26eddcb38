import Logging

/// A dedicated connection that LISTENs on a set of channels and keeps listening across reconnects.
///
/// ``run(_:)`` connects (with ``PostgresClient``'s backoff), issues `LISTEN` for every channel,
/// hands each notification to the handler, and when the connection ends reconnects and LISTENs
/// again. Notifications sent while no connection was listening are lost (that is NOTIFY's nature).
public final class PostgresListener: Sendable {
    /// The channels listened on.
    public let channels: [String]
    private let client: PostgresClient
    private let logger: Logger

    /// Creates a listener; nothing happens until ``run(_:)``.
    public init(
        configuration: PostgresConfiguration, channels: [String], maximumBackoff: Duration = .seconds(30), logger: Logger
    ) {
        self.channels = channels
        self.client = PostgresClient(configuration: configuration, maximumBackoff: maximumBackoff, logger: logger)
        self.logger = logger
    }

    /// The underlying connection's state, for status reports.
    public var state: PostgresClient.State { client.state }

    /// Delivers notifications to `handler` until the task is cancelled (then returns) or the handler throws.
    public func run(_ handler: (PostgresNotification) async throws -> Void) async throws {
        defer { client.close() }
        while !Task.isCancelled {
            let connection: PostgresConnection
            do {
                connection = try await client.withConnection { connection in
                    for channel in channels {
                        try await connection.listen(channel)
                    }
                    return connection
                }
            } catch let error as PostgresError where error.isConnectionError || error.code == .cancelled {
                continue  // logged by the client; the next attempt waits out the backoff, or the loop ends
            }
            // Ends when the connection ends (then reconnect) or the task is cancelled.
            for await notification in connection.notifications {
                try await handler(notification)
            }
        }
    }
}
