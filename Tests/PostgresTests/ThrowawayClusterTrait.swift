import Logging
import Postgres
import Testing
import ThrowawayCluster

/// Starts one throwaway cluster around a suite (or test) and destroys it afterwards, even on failure.
struct ThrowawayClusterTrait: SuiteTrait, TestTrait, TestScoping {
    @TaskLocal static var current: ThrowawayCluster?

    var isRecursive: Bool { false }

    func provideScope(for test: Test, testCase: Test.Case?, performing function: () async throws -> Void) async throws {
        let cluster = try ThrowawayCluster.start()
        defer { cluster.destroy() }
        try await Self.$current.withValue(cluster) {
            try await function()
        }
    }
}

extension Trait where Self == ThrowawayClusterTrait {
    /// A throwaway PostgreSQL cluster, reachable through `cluster` in the tests.
    static var throwawayCluster: Self { Self() }
}

/// The cluster of the enclosing `.throwawayCluster` scope.
var cluster: ThrowawayCluster {
    get throws {
        try #require(ThrowawayClusterTrait.current, "test must run inside a .throwawayCluster scope")
    }
}

let testLogger = Logger(label: "c77.postgres.tests")

/// Connects to the current cluster with the given tweaks.
func connect(
    database: String = "postgres", user: String = "postgres", configure: (inout PostgresConfiguration) -> Void = { _ in }
) async throws -> PostgresConnection {
    var configuration = PostgresConfiguration(conninfo: try cluster.conninfo(database: database, user: user))
    configure(&configuration)
    return try await PostgresConnection.connect(configuration, logger: testLogger)
}

/// The `PostgresError` `body` throws; records an issue when it throws something else or nothing.
func postgresError(
    sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> Void
) async -> PostgresError? {
    do {
        try await body()
        Issue.record("expected a PostgresError, nothing was thrown", sourceLocation: sourceLocation)
    } catch let error as PostgresError {
        return error
    } catch {
        Issue.record("expected a PostgresError, got \(error)", sourceLocation: sourceLocation)
    }
    return nil
}
