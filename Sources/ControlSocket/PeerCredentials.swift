import Glibc

/// Who is on the other end of a status-socket connection, as the kernel reports it
/// (`SO_PEERCRED`: the peer's process, effective user and effective group when it connected).
public struct PeerCredentials: Sendable, Hashable {
    /// The peer's process id.
    public var pid: pid_t
    /// The peer's effective user id.
    public var uid: uid_t
    /// The peer's effective (primary) group id.
    public var gid: gid_t

    /// Credentials with the given ids, e.g. to exercise a handler in tests.
    public init(pid: pid_t, uid: uid_t, gid: gid_t) {
        self.pid = pid
        self.uid = uid
        self.gid = gid
    }

    /// The credentials of the peer connected to the Unix socket `fd`, or `nil` if the kernel
    /// would not say.
    init?(socket fd: Int32) {
        // struct ucred { pid_t pid; uid_t uid; gid_t gid; }; Glibc hides it behind _GNU_SOURCE.
        var fields: (Int32, UInt32, UInt32) = (0, 0, 0)
        var length = socklen_t(MemoryLayout.size(ofValue: fields))
        guard getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &fields, &length) == 0,
            length == MemoryLayout.size(ofValue: fields)
        else { return nil }
        self.init(pid: fields.0, uid: fields.1, gid: fields.2)
    }
}
