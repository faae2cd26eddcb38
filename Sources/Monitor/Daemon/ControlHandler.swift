import ControlSocket
import DigestLog
import FoundationEssentials
import Glibc

/// Answers control-socket commands: `status`, `jobs`, `alerts`, `run`, `reload`, `version`,
/// `digest_export`.
/// `run` and `reload` change what the daemon does, so only root, the daemon's own user and
/// members of the socket's group may send them (checked with SO_PEERCRED).
struct ControlHandler {
    let daemon: MonitorDaemon

    func handle(_ request: ControlRequest, peer: PeerCredentials) async -> ControlResponse {
        guard let command = ControlCommand(rawValue: request.cmd) else {
            let known = ControlCommand.allCases.map(\.rawValue).joined(separator: ", ")
            return .failure("unknown command '\(request.cmd)' (known: \(known))")
        }
        if command.isMutating, !isAuthorized(peer) {
            return .failure("permission denied: '\(command.rawValue)' needs root, the daemon's user or the socket's group (peer uid \(peer.uid))")
        }
        do {
            switch command {
            case .status:
                return .success(try JSONValue.encoding(await daemon.status()))
            case .jobs:
                return .success(try JSONValue.encoding(await daemon.jobs()))
            case .alerts:
                let limit = request.args["limit"]?.intValue
                return .success(try JSONValue.encoding(await daemon.recentAlerts(limit: limit)))
            case .run:
                guard let name = request.args["job"]?.stringValue, !name.isEmpty else {
                    return .failure("'run' needs a job name (known: \(daemon.jobNames.joined(separator: ", ")))")
                }
                guard let outcome = await daemon.requestRun(job: name) else {
                    return .failure("unknown job '\(name)' (known: \(daemon.jobNames.joined(separator: ", ")))")
                }
                return .success(["job": .string(name), "status": .string(outcome.rawValue)])
            case .reload:
                let outcome = await daemon.reload()
                guard outcome.ok else { return .failure("configuration refused, previous one kept: \(outcome.error ?? "")") }
                return .success(try JSONValue.encoding(outcome))
            case .version:
                return .success(["version": .string(MonitorVersion.current)])
            case .digestExport:
                // A page: `skip` entries skipped, at most `limit` (1…5000, default 5000) returned.
                let skip = max(request.args["skip"]?.intValue ?? 0, 0)
                let limit = min(max(request.args["limit"]?.intValue ?? Self.digestPageLimit, 1), Self.digestPageLimit)
                let log = DigestLog(stateDirectory: daemon.stateDirectory)
                let page = try daemon.memory.readDigestLog { try log.exportPage(skipping: skip, limit: limit) }
                guard case .object(var answer) = try JSONValue.encoding(page.export) else { return .failure("internal error: export") }
                answer["more"] = .bool(page.more)
                return .success(.object(answer))
            }
        } catch {
            return .failure("internal error: \(error)")
        }
    }

    /// Entries per `digest_export` answer: far below the control socket's 16 MiB limit.
    static let digestPageLimit = 5000

    private func isAuthorized(_ peer: PeerCredentials) -> Bool {
        var groupID: gid_t?
        if let name = daemon.controlGroup, let group = getgrnam(name) {
            groupID = group.pointee.gr_gid
        }
        return peer.isAuthorized(forMutatingCommandsBy: geteuid(), group: groupID)
    }
}

extension JSONValue {
    /// Encodes a value as the JSON the control socket sends (ISO 8601 dates, snake_case keys
    /// as the types declare them).
    static func encoding<T: Encodable>(_ value: T) throws -> JSONValue {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        let data = try encoder.encode(value)
        return try JSONDecoder().decode(JSONValue.self, from: data)
    }
}
