/// Bounds that keep one misbehaving client from hurting the daemon.
public struct ControlServerLimits: Sendable, Hashable {
    /// The longest request line, in bytes; a longer one gets `request too long` and the connection closes.
    public var maxLineLength: Int
    /// How many clients may be connected at once; one more gets `too many clients` and is closed.
    public var maxClients: Int
    /// How long a connection may wait for the client's next byte, or for the client to take a reply.
    public var idleTimeout: Duration
    /// The deepest nesting of arrays and objects in a request, the request object counting as 1.
    public var maxNestingDepth: Int

    /// Limits with the given values; the defaults suit the daemon.
    public init(
        maxLineLength: Int = 64 * 1024,
        maxClients: Int = 64,
        idleTimeout: Duration = .seconds(30),
        maxNestingDepth: Int = 64
    ) {
        self.maxLineLength = maxLineLength
        self.maxClients = maxClients
        self.idleTimeout = idleTimeout
        self.maxNestingDepth = maxNestingDepth
    }
}
