import ControlSocket
import Foundation
import Glibc
import Testing

/// The server over a real Unix socket: requests, garbage, limits and peers.
@Suite struct ControlServerTests {
    private static let status = Array(#"{"cmd":"status"}"#.utf8) + [0x0A]

    @Test func answersStatus() async throws {
        let server = try TestServer()
        defer { server.tearDown() }
        let path = server.path
        let response = try await offPool { try ControlClient.send(ControlRequest(.status), socketPath: path) }
        #expect(response.data?["cmd"] == "status")
        #expect(response.data?["args"] == [:])
    }

    @Test func passesHandlerFailuresThrough() async throws {
        let server = try TestServer()
        defer { server.tearDown() }
        let path = server.path
        let response = try await offPool { try ControlClient.send(ControlRequest(cmd: "fail"), socketPath: path) }
        #expect(response == .failure("failed on purpose"))
    }

    @Test func answersSeveralRequestsOnOneConnectionInOrder() async throws {
        let server = try TestServer()
        defer { server.tearDown() }
        let path = server.path
        let lines = try await offPool {
            let connection = try RawConnection(path)
            connection.send(#"{"cmd":"slow"}"# + "\n" + #"{"cmd":"run","job":"token_cleanup"}"# + "\r\n\n  \n")
            connection.send(#"{"cmd":"alerts","limit":3}"# + "\n")
            return try (0..<3).map { _ in try connection.readResponse().response }
        }
        #expect(lines.map { $0.data?["cmd"] } == ["slow", "run", "alerts"])
        #expect(lines[1].data?["args"] == ["job": "token_cleanup"])
        #expect(lines[2].data?["args"] == ["limit": 3])
    }

    /// Lines that are not requests, with the server's answer to each.
    private static let garbage: [([UInt8], String)] = [
        (Array("not json".utf8), "malformed request: invalid JSON"),
        (Array("[1,2]".utf8), "malformed request: expected a JSON object"),
        (Array(#"{"job":"x"}"#.utf8), #"malformed request: missing "cmd""#),
        (Array(#"{"cmd":["status"]}"#.utf8), #"malformed request: "cmd" must be a string"#),
        (Array(#"{"cmd":"st"#.utf8) + [0xC3, 0x28] + Array(#""}"#.utf8), "malformed request: not valid UTF-8"),
        ((0...255).map(UInt8.init).filter { $0 != 0x0A }, "malformed request: not valid UTF-8"),
        (Array(repeating: UInt8(ascii: "["), count: 60_000), "malformed request: nested deeper than 64 levels"),
        (Array((#"{"cmd":"status","x":"# + String(repeating: "{\"a\":", count: 80)).utf8), "malformed request: nested deeper than 64 levels"),
    ]

    @Test(arguments: garbage)
    func answersGarbageAndStaysUsable(line: [UInt8], expected: String) async throws {
        let server = try TestServer()
        defer { server.tearDown() }
        let path = server.path
        let (error, next) = try await offPool {
            let connection = try RawConnection(path)
            connection.send(line + [0x0A])
            let error = try connection.readResponse().response
            connection.send(Self.status)
            return (error, try connection.readResponse().response)
        }
        #expect(error == .failure(expected))
        #expect(next.data?["cmd"] == "status")
    }

    @Test func refusesNumbersBeyondDoubleAndStaysUsable() async throws {
        let server = try TestServer()
        defer { server.tearDown() }
        let path = server.path
        let (first, second, next) = try await offPool {
            let connection = try RawConnection(path)
            connection.send(#"{"cmd":"alerts","limit":1e999}"# + "\n")
            let first = try connection.readResponse().response
            connection.send(#"{"cmd":"alerts","limit":"# + String(repeating: "9", count: 5000) + "}\n")
            let second = try connection.readResponse().response
            connection.send(Self.status)
            return (first, second, try connection.readResponse().response)
        }
        #expect(first == .failure("malformed request: invalid JSON"))
        #expect(second == .failure("malformed request: invalid JSON"))
        #expect(next.data?["cmd"] == "status")
    }

    @Test func refusesAMebibyteLineAndClosesButKeepsServing() async throws {
        let server = try TestServer()
        defer { server.tearDown() }
        let path = server.path
        let (reply, closed) = try await offPool {
            let connection = try RawConnection(path)
            connection.send(Array(repeating: UInt8(ascii: "a"), count: 1 << 20) + [0x0A])
            return (connection.readLine(), connection.isClosed(within: .seconds(5)))
        }
        #expect(reply == #"{"error":"request too long","ok":false}"#)
        #expect(closed)
        let response = try await offPool { try ControlClient.send(ControlRequest(.version), socketPath: path) }
        #expect(response.isOK)
    }

    @Test func survivesClientsLeavingMidLine() async throws {
        let server = try TestServer()
        defer { server.tearDown() }
        let path = server.path
        let response = try await offPool {
            for _ in 0..<5 {
                let connection = try RawConnection(path)
                connection.send(#"{"cmd":"sta"#)
            }
            return try ControlClient.send(ControlRequest(.status), socketPath: path)
        }
        #expect(response.isOK)
    }

    @Test func closesIdleConnections() async throws {
        let server = try TestServer(limits: ControlServerLimits(idleTimeout: .milliseconds(200)))
        defer { server.tearDown() }
        let path = server.path
        let closed = try await offPool { try RawConnection(path).isClosed(within: .seconds(5)) }
        #expect(closed)
    }

    @Test func reportsThePeersCredentials() async throws {
        let server = try TestServer()
        defer { server.tearDown() }
        let path = server.path
        let response = try await offPool { try ControlClient.send(ControlRequest(.status), socketPath: path) }
        #expect(response.data?["peer"] == ["pid": .integer(Int(getpid())), "uid": .integer(Int(getuid())), "gid": .integer(Int(getgid()))])
    }

    @Test func answersTwentyClientsAtOnce() async throws {
        let server = try TestServer()
        defer { server.tearDown() }
        let path = server.path
        let responses = try await withThrowingTaskGroup(of: ControlResponse.self) { group in
            for index in 0..<20 {
                group.addTask {
                    try await offPool {
                        try ControlClient.send(ControlRequest(cmd: "slow", args: ["n": .integer(index)]), socketPath: path)
                    }
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(responses.count == 20)
        #expect(Set(responses.compactMap { $0.data?["args"]?["n"]?.intValue }) == Set(0..<20))
    }

    @Test func turnsAwayClientsBeyondTheLimit() async throws {
        let server = try TestServer(limits: ControlServerLimits(maxClients: 2))
        defer { server.tearDown() }
        let path = server.path
        let (refusal, closed, afterwards) = try await offPool {
            var admitted = try (0..<2).map { _ in try RawConnection(path) }
            for connection in admitted {
                connection.send(Self.status)
                _ = try connection.readResponse()
            }
            let extra = try RawConnection(path)
            let refusal = extra.readLine()
            let closed = extra.isClosed(within: .seconds(5))
            admitted.removeAll()
            var afterwards = try? ControlClient.send(ControlRequest(.status), socketPath: path)
            for _ in 0..<250 where afterwards?.isOK != true {
                usleep(20_000)
                afterwards = try? ControlClient.send(ControlRequest(.status), socketPath: path)
            }
            return (refusal, closed, afterwards)
        }
        #expect(refusal == #"{"error":"too many clients","ok":false}"#)
        #expect(closed)
        #expect(afterwards?.isOK == true)
    }
}
