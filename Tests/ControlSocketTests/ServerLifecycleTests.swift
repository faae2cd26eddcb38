import ControlSocket
import Foundation
import Glibc
import Testing

/// Starting and stopping: the socket file, its mode and group, and what may already be at the path.
@Suite struct ServerLifecycleTests {
    private static func handler(_ request: ControlRequest, _ peer: PeerCredentials) async -> ControlResponse {
        .success(nil)
    }

    private static func startError(_ server: ControlServer) -> ControlServerError? {
        do {
            try server.start()
            server.stop()
            return nil
        } catch {
            return error
        }
    }

    private static func fileStatus(_ path: String) -> stat? {
        var status = stat()
        return lstat(path, &status) == 0 ? status : nil
    }

    @Test func appliesModeAndGroup() throws {
        let group = try #require(getgrnam("nogroup")?.pointee.gr_gid)
        let server = try TestServer(mode: 0o640, group: "nogroup")
        defer { server.tearDown() }
        let status = try #require(Self.fileStatus(server.path))
        #expect(status.st_mode & S_IFMT == S_IFSOCK)
        #expect(status.st_mode & 0o7777 == 0o640)
        #expect(status.st_gid == group)
    }

    @Test func acceptsANumericGroup() throws {
        let server = try TestServer(mode: 0o600, group: "4242")
        defer { server.tearDown() }
        let status = try #require(Self.fileStatus(server.path))
        #expect(status.st_mode & 0o7777 == 0o600)
        #expect(status.st_gid == 4242)
    }

    @Test func refusesAnUnknownGroupAndLeavesNoFile() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("d.sock")
        let error = Self.startError(ControlServer(path: path, mode: 0o660, group: "no-such-group-c77", handler: Self.handler))
        #expect(error?.code == .unknownGroup)
        #expect(error?.description == "unknown group no-such-group-c77 for socket \(path)")
        #expect(Self.fileStatus(path) == nil)
    }

    @Test func replacesAStaleSocket() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("d.sock")
        BareListener.leaveStaleSocket(at: path)
        let server = ControlServer(path: path, mode: 0o660, group: nil, handler: Self.handler)
        try server.start()
        defer { server.stop() }
        let response = try await offPool { try ControlClient.send(ControlRequest(.status), socketPath: path) }
        #expect(response == .success(nil))
    }

    @Test func refusesASocketInUse() async throws {
        let first = try TestServer()
        defer { first.tearDown() }
        let path = first.path
        let error = Self.startError(ControlServer(path: path, mode: 0o660, group: nil, handler: Self.handler))
        #expect(error?.code == .addressInUse)
        #expect(error?.description.contains("another process is listening on \(path)") == true)
        let response = try await offPool { try ControlClient.send(ControlRequest(.status), socketPath: path) }
        #expect(response.isOK)
    }

    @Test func refusesToReplaceAFileThatIsNotASocket() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("d.sock")
        try Data("keep me".utf8).write(to: URL(fileURLWithPath: path))
        let error = Self.startError(ControlServer(path: path, mode: 0o660, group: nil, handler: Self.handler))
        #expect(error?.code == .notASocket)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "keep me")
    }

    @Test func reportsAMissingDirectory() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let error = Self.startError(ControlServer(path: directory.file("run/d.sock"), mode: 0o660, group: nil, handler: Self.handler))
        #expect(error?.code == .directoryMissing)
        #expect(error?.description.contains("RuntimeDirectory=") == true)
    }

    @Test func refusesAPathTooLongForASocket() {
        let path = "/tmp/" + String(repeating: "x", count: 103)
        let error = Self.startError(ControlServer(path: path, mode: 0o660, group: nil, handler: Self.handler))
        #expect(error?.code == .invalidPath)
    }

    @Test func startsOnlyOnce() throws {
        let server = try TestServer()
        defer { server.tearDown() }
        #expect(throws: ControlServerError.self) { try server.server.start() }
    }

    @Test func stopRemovesTheSocketAndClosesConnections() async throws {
        let server = try TestServer()
        defer { server.directory.remove() }
        let path = server.path
        let closed = try await offPool {
            let connection = try RawConnection(path)
            server.server.stop()
            return connection.isClosed(within: .seconds(5))
        }
        #expect(closed)
        #expect(Self.fileStatus(path) == nil)
        server.server.stop()
    }

    @Test func stopLeavesAFileThatReplacedTheSocket() throws {
        let server = try TestServer()
        defer { server.tearDown() }
        unlink(server.path)
        try Data("newer".utf8).write(to: URL(fileURLWithPath: server.path))
        server.server.stop()
        #expect(try String(contentsOfFile: server.path, encoding: .utf8) == "newer")
    }
}
