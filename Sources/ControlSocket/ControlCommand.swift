/// The commands `c77-secure-dbd` serves on its status socket.
///
/// The server itself is command-agnostic: it hands every well-formed ``ControlRequest`` to its
/// handler, which decides. This enum names the commands both sides agree on.
public enum ControlCommand: String, Sendable, Hashable, CaseIterable {
    /// The daemon's overall state: database reachability, last runs, open alerts.
    case status
    /// Every configured job with its schedule and last and next run.
    case jobs
    /// Recent alerts; optional argument `limit` (integer).
    case alerts
    /// Runs a job now; argument `job` (string, the job's name).
    case run
    /// Re-reads the configuration, keeping the old one if the new one is invalid.
    case reload
    /// The daemon's version.
    case version
    /// The signed digest log of audit chain heads, with its public key.
    case digestExport = "digest_export"

    /// Whether the command changes the daemon's state, so the caller must be authorized
    /// (see ``PeerCredentials/isAuthorized(forMutatingCommandsBy:group:)``).
    public var isMutating: Bool {
        switch self {
        case .run, .reload: true
        case .status, .jobs, .alerts, .version, .digestExport: false
        }
    }
}
