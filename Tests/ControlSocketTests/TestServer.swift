import ControlSocket
import Foundation
import Glibc

/// A running server in a temporary directory with a handler that echoes what it got.
///
/// The handler answers `{"cmd":…,"args":{…},"peer":{"pid":…,"uid":…,"gid":…}}`; the command
/// `fail` gets a failure, and `slow` is answered after 50 ms.
struct TestServer: Sendable {
    let directory: TemporaryDirectory
    let server: ControlServer
    var path: String { server.path }

    init(mode: mode_t = 0o660, group: String? = nil, limits: ControlServerLimits = ControlServerLimits()) throws {
        directory = try TemporaryDirectory()
        server = ControlServer(path: directory.file("d.sock"), mode: mode, group: group, limits: limits, handler: Self.echo)
        do {
            try server.start()
        } catch {
            directory.remove()
            throw error
        }
    }

    func tearDown() {
        server.stop()
        directory.remove()
    }

    @Sendable static func echo(_ request: ControlRequest, _ peer: PeerCredentials) async -> ControlResponse {
        switch request.cmd {
        case "fail":
            return .failure("failed on purpose")
        case "slow":
            try? await Task.sleep(for: .milliseconds(50))
        default:
            break
        }
        return .success([
            "cmd": .string(request.cmd),
            "args": .object(request.args),
            "peer": ["pid": .integer(Int(peer.pid)), "uid": .integer(Int(peer.uid)), "gid": .integer(Int(peer.gid))],
        ])
    }
}
