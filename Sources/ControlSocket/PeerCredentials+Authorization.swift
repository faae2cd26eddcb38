import Glibc

extension PeerCredentials {
    /// Whether this peer may run mutating commands (``ControlCommand/isMutating``).
    ///
    /// Allowed: root, the daemon's own user, and members of `group` — by the peer's primary group
    /// or by the supplementary groups the user database lists for the peer's user (`getgrouplist`).
    /// Supplementary groups are read from the database, not from the peer process, so a group
    /// membership added after the peer logged in counts too.
    /// - Parameters:
    ///   - daemonUID: The user the daemon runs as (`getuid()`).
    ///   - group: The group allowed to run mutating commands (the socket's group), or `nil` for none.
    public func isAuthorized(forMutatingCommandsBy daemonUID: uid_t, group: gid_t?) -> Bool {
        if uid == 0 || uid == daemonUID { return true }
        guard let group else { return false }
        if gid == group { return true }
        guard let name = UserDatabase.userName(of: uid) else { return false }
        return UserDatabase.groups(ofUser: name, primary: gid).contains(group)
    }
}
