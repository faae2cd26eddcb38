import Foundation
import Synchronization
@testable import Postgres
import Testing
import ThrowawayCluster

@Suite(.throwawayCluster, .serialized) struct PostgresClientTests {
    private func makeClient() throws -> PostgresClient {
        PostgresClient(
            configuration: PostgresConfiguration(conninfo: try cluster.conninfo(), connectTimeout: .seconds(2)),
            maximumBackoff: .seconds(2), logger: testLogger
        )
    }

    @Test func reconnectsAfterServerRestart() async throws {
        let client = try makeClient()
        defer { client.close() }
        let before = try await client.withConnection { try await $0.query("SELECT pg_backend_pid() AS pid").first!.int("pid") }
        guard case .connected = client.state else { Issue.record("expected connected, got \(client.state)"); return }

        try cluster.restart()
        var after: Int?
        for _ in 0..<3 where after == nil {
            after = try? await client.withConnection { try await $0.query("SELECT pg_backend_pid() AS pid").first!.int("pid") }
        }
        #expect(after != nil && after != before)
    }

    @Test func reportsOutageAndRecoversWithBackoff() async throws {
        let client = try makeClient()
        defer { client.close() }
        _ = try await client.withConnection { try await $0.execute("SELECT 1") }
        try cluster.stop()

        let error = await postgresError { _ = try await client.withConnection { try await $0.execute("SELECT 1") } }
        #expect(error?.isConnectionError == true)
        let second = await postgresError { _ = try await client.withConnection { try await $0.execute("SELECT 1") } }
        #expect(second?.code == .connectionFailed)
        guard case .connecting(let attempt, let lastError) = client.state else {
            Issue.record("expected connecting, got \(client.state)")
            return
        }
        #expect(attempt >= 1)
        #expect(lastError?.code == .connectionFailed)

        try cluster.start()
        #expect(try await client.withConnection { try await $0.query("SELECT 7 AS n").first!.int("n") } == 7)
        guard case .connected = client.state else { Issue.record("expected connected, got \(client.state)"); return }
    }

    @Test func listenerListensAgainAfterReconnect() async throws {
        let cluster = try cluster
        let configuration = PostgresConfiguration(conninfo: cluster.conninfo(), connectTimeout: .seconds(2))
        let listener = PostgresListener(configuration: configuration, channels: ["alerts"], maximumBackoff: .seconds(1), logger: testLogger)
        let payloads = Payloads()
        let running = Task { try await listener.run { notification in payloads.list.withLock { $0.append(notification.payload) } } }
        defer { running.cancel() }

        /// Notifies until the listener reports `payload` (it may not be listening yet, or again).
        func expectDelivery(of payload: String) async throws {
            let deadline = ContinuousClock.now + .seconds(10)
            while ContinuousClock.now < deadline {
                try cluster.psql("SELECT pg_notify('alerts', '\(payload)')")
                try await Task.sleep(for: .milliseconds(200))
                if payloads.list.withLock({ $0.contains(payload) }) { return }
            }
            Issue.record("no notification with payload \(payload)")
        }

        try await expectDelivery(of: "first")
        try cluster.restart()
        try await expectDelivery(of: "second")

        running.cancel()
        try await running.value
    }

    @Test func backoffGrowsWithJitterWithinBounds() {
        for failures in 1...12 {
            let delay = PostgresClient.backoff(failures: failures, maximum: .seconds(30))
            #expect(delay >= .milliseconds(500))
            #expect(delay <= .seconds(30))
        }
        #expect(PostgresClient.backoff(failures: 1, maximum: .seconds(30)) == .milliseconds(500))
        #expect(PostgresClient.backoff(failures: 10, maximum: .seconds(30)) >= .seconds(15))
    }
}

/// Payloads a listener delivered, shared with the test.
private final class Payloads: Sendable {
    let list = Mutex<[String]>([])
}
