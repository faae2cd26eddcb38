import Foundation
@testable import HTTPPost
import LocalReceivers
import Testing

@Suite(.serialized) struct HTTPPostTests {
    @Test func postsToTheReceiverAndReturnsItsAnswer() async throws {
        let receiver = try WebhookReceiver()
        defer { receiver.stop() }
        var behaviour = WebhookReceiver.Behaviour()
        behaviour.status = 429
        behaviour.retryAfter = "7"
        receiver.setBehaviour(behaviour)
        let head = try await HTTPPost.send(
            to: URL(string: receiver.url + "?x=1")!, headers: [("webhook-id", "msg_1")], body: Array(#"{"a":1}"#.utf8), timeout: .seconds(5)
        )
        #expect(head.status == 429)
        #expect(head.value(for: "retry-after") == "7")
        let delivery = try #require(receiver.deliveries.first)
        #expect(delivery.id == "msg_1")
        #expect(delivery.bodyText == #"{"a":1}"#)
    }

    @Test func aClosedPortIsAConnectError() async throws {
        let port = try SilentListener().port   // listening, then closed as the listener goes away
        let error = await #expect(throws: HTTPPostError.self) {
            try await HTTPPost.send(to: URL(string: "http://127.0.0.1:\(port)/")!, headers: [], body: [], timeout: .seconds(5))
        }
        #expect(error?.code == .connect)
    }

    @Test func aSilentReceiverTimesOut() async throws {
        let silent = try SilentListener()
        let started = ContinuousClock.now
        let error = await #expect(throws: HTTPPostError.self) {
            try await HTTPPost.send(to: URL(string: "http://127.0.0.1:\(silent.port)/")!, headers: [], body: [], timeout: .milliseconds(300))
        }
        #expect(error?.code == .timeout)
        #expect(ContinuousClock.now - started < .seconds(3))
    }

    @Test func cancellationEndsAWaitingPost() async throws {
        let silent = try SilentListener()
        let task = Task {
            try await HTTPPost.send(to: URL(string: "http://127.0.0.1:\(silent.port)/")!, headers: [], body: [], timeout: .seconds(30))
        }
        try await Task.sleep(for: .milliseconds(100))
        task.cancel()
        let error = await #expect(throws: HTTPPostError.self) { try await task.value }
        #expect(error?.code == .cancelled)
    }

    @Test func httpsChecksTheCertificateAgainstTheTrustStoreAndTheHost() async throws {
        let server = try TLSTestServer()
        defer { server.stop() }
        let untrusted = await #expect(throws: HTTPPostError.self) {
            try await HTTPPost.send(to: URL(string: "https://localhost:\(server.port)/hook")!, headers: [], body: [], timeout: .seconds(10))
        }
        #expect(untrusted?.code == .tls)
        #expect(untrusted?.description.contains("certificate verify failed") == true)

        setenv("SSL_CERT_FILE", server.certificate, 1)
        defer { unsetenv("SSL_CERT_FILE") }
        let head = try await HTTPPost.send(to: URL(string: "https://localhost:\(server.port)/hook")!, headers: [], body: Array("{}".utf8), timeout: .seconds(10))
        #expect(head.status == 202)
        let wrongName = await #expect(throws: HTTPPostError.self) {
            try await HTTPPost.send(to: URL(string: "https://127.0.0.1:\(server.port)/hook")!, headers: [], body: [], timeout: .seconds(10))
        }
        #expect(wrongName?.code == .tls)
    }
}

/// Name resolution waits only as long as the POST may: a name server that never answers
/// would hold `getaddrinfo` for its own timeouts.
@Suite struct NameResolutionTests {
    @Test func aLookupThatDoesNotAnswerTimesOut() throws {
        let started = ContinuousClock.now
        let error = #expect(throws: HTTPPostError.self) {
            try NameResolution.resolve(host: "webhook.example", port: 443, deadline: PostDeadline(timeout: .milliseconds(200))) { _, _ in
                sleep(5)
                return .failure(HTTPPostError(.resolve, "answered too late"))
            }
        }
        #expect(error?.code == .timeout)
        #expect(ContinuousClock.now - started < .seconds(3))
    }

    @Test func cancellingTheDeadlineEndsTheWait() throws {
        let deadline = PostDeadline(timeout: .seconds(30))
        deadline.cancel()
        let error = #expect(throws: HTTPPostError.self) {
            try NameResolution.resolve(host: "webhook.example", port: 443, deadline: deadline) { _, _ in
                sleep(5)
                return .failure(HTTPPostError(.resolve, "answered too late"))
            }
        }
        #expect(error?.code == .cancelled)
    }

    @Test func theSystemResolverFindsLocalhostAndNamesAnUnknownHost() throws {
        let addresses = try NameResolution.resolve(host: "localhost", port: 80, deadline: PostDeadline(timeout: .seconds(10)))
        #expect(addresses.first.pointee.ai_socktype == Int32(SOCK_STREAM.rawValue))
        let error = #expect(throws: HTTPPostError.self) {
            try NameResolution.resolve(host: "no-such-host.invalid", port: 80, deadline: PostDeadline(timeout: .seconds(10)))
        }
        #expect(error?.code == .resolve)
    }
}
