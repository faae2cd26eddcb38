/// A NOTIFY received on a connection that LISTENs.
public struct PostgresNotification: Sendable, Equatable {
    public var channel: String
    public var payload: String
    /// The backend that sent it.
    public var pid: Int32
}
