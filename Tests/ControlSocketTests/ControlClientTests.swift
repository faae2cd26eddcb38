import ControlSocket
import Foundation
import Testing

/// The client's errors, each against a real socket (or a real absence of one).
@Suite struct ControlClientTests {
    private static func sendError(to path: String, timeout: Duration = .seconds(5)) async throws -> ControlClientError? {
        try await offPool { () -> ControlClientError? in
            do throws(ControlClientError) {
                _ = try ControlClient.send(ControlRequest(.status), socketPath: path, timeout: timeout)
                return nil
            } catch {
                return error
            }
        }
    }

    @Test func saysTheDaemonIsNotRunningWhenThereIsNoSocket() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("d.sock")
        let error = try await Self.sendError(to: path)
        #expect(error == .daemonNotRunning(path))
        #expect(error?.description == "c77-secure-dbd is not running (no socket at \(path))")
    }

    @Test func saysTheDaemonIsNotRunningWhenTheSocketIsStale() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("d.sock")
        BareListener.leaveStaleSocket(at: path)
        #expect(try await Self.sendError(to: path) == .daemonNotRunning(path))
    }

    @Test func saysTheDaemonIsNotRunningAfterStop() async throws {
        let server = try TestServer()
        server.tearDown()
        #expect(try await Self.sendError(to: server.path) == .daemonNotRunning(server.path))
    }

    @Test func timesOutWhenNobodyAnswers() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let listener = BareListener(directory.file("d.sock"))
        defer { listener.close() }
        let started = ContinuousClock.now
        #expect(try await Self.sendError(to: directory.file("d.sock"), timeout: .milliseconds(200)) == .timedOut)
        #expect(ContinuousClock.now - started < .seconds(3))
    }

    @Test(arguments: ["hello\n", "{\"ok\":\"yes\"}\n", "{\"ok\":true"])
    func reportsAnswersThatAreNotResponses(answer: String) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let listener = BareListener(directory.file("d.sock"))
        defer { listener.close() }
        listener.answerOnce(with: Array(answer.utf8))
        let error = try await Self.sendError(to: directory.file("d.sock"))
        guard case .protocolError = error else {
            Issue.record("expected a protocol error, got \(String(describing: error))")
            return
        }
    }

    @Test func refusesAPathTooLongForASocket() async throws {
        let error = try await Self.sendError(to: "/tmp/" + String(repeating: "x", count: 200))
        guard case .connectionFailed = error else {
            Issue.record("expected connectionFailed, got \(String(describing: error))")
            return
        }
    }

    @Test func describesEveryErrorForTheCLI() {
        #expect(ControlClientError.permissionDenied("/run/x.sock").description == "permission denied on /run/x.sock (is your user in the socket's group?)")
        #expect(ControlClientError.timedOut.description == "c77-secure-dbd did not answer in time")
        #expect(ControlClientError.protocolError("eof").description == "unexpected answer from c77-secure-dbd: eof")
    }
}
