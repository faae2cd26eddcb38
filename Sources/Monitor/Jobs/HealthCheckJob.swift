import ControlSocket
import EssentialsSupport
import FoundationEssentials

/// Calls `c77_secure_db_health_check()` and compares its figures with the thresholds of
/// `[job.health_check]`: the error rate over the last hour (percent) and the number of
/// active authorization tokens. Each threshold is a condition: alerted when crossed, repeated
/// while it holds, resolved when it clears.
public struct HealthCheckJob: MonitorJob {
    public let name = "health_check"
    public var errorRateThreshold: Double
    public var activeTokensThreshold: Int

    public init(errorRateThreshold: Double, activeTokensThreshold: Int) {
        self.errorRateThreshold = errorRateThreshold
        self.activeTokensThreshold = activeTokensThreshold
    }

    /// The keys of `c77_secure_db_health_check()` this job reads.
    struct Health: Decodable {
        var success: Bool
        var extensionVersion: String?
        var rbacAvailable: Bool?
        var secureSchemasCount: Int?
        var activeTokens: Int
        var recentOperations1h: Int
        var recentErrors1h: Int
        var errorRate1h: Double
        var error: String?

        enum CodingKeys: String, CodingKey {
            case success, error
            case extensionVersion = "extension_version"
            case rbacAvailable = "rbac_available"
            case secureSchemasCount = "secure_schemas_count"
            case activeTokens = "active_tokens"
            case recentOperations1h = "recent_operations_1h"
            case recentErrors1h = "recent_errors_1h"
            case errorRate1h = "error_rate_1h"
        }
    }

    public func run(in context: JobContext) async throws -> JobReport {
        let text = try await context.database.withConnection { connection in
            try await connection.query("SELECT c77_secure_db_health_check()::text AS health").first?.string("health")
        }
        guard let text else { throw JobError("c77_secure_db_health_check() returned no row") }
        let health = try JSONDecoder().decode(Health.self, from: Data(text.utf8))
        guard health.success else {
            throw JobError("c77_secure_db_health_check() reported failure: \(health.error ?? text)")
        }

        let database = context.database.reachability.database
        let errorRateFingerprint = Alert.fingerprint(.highErrorRate, database)
        if health.errorRate1h > errorRateThreshold {
            await context.alerts.raiseCondition(Alert(
                type: .highErrorRate, severity: .warning,
                summary: String(cFormat: "Error rate %.2f%% over the last hour exceeds %.2f%% (%d of %d operations failed)",
                                health.errorRate1h, errorRateThreshold, health.recentErrors1h, health.recentOperations1h),
                job: name, database: database,
                details: ["error_rate_1h": .number(health.errorRate1h), "threshold": .number(errorRateThreshold),
                          "recent_errors_1h": .number(Double(health.recentErrors1h)),
                          "recent_operations_1h": .number(Double(health.recentOperations1h))],
                fingerprint: errorRateFingerprint
            ))
        } else {
            await context.alerts.resolve(fingerprint: errorRateFingerprint)
        }

        let tokensFingerprint = Alert.fingerprint(.tokenBuildup, database)
        if health.activeTokens > activeTokensThreshold {
            await context.alerts.raiseCondition(Alert(
                type: .tokenBuildup, severity: .warning,
                summary: "\(health.activeTokens) active authorization tokens exceed the threshold of \(activeTokensThreshold)",
                job: name, database: database,
                details: ["active_tokens": .number(Double(health.activeTokens)),
                          "threshold": .number(Double(activeTokensThreshold))],
                fingerprint: tokensFingerprint
            ))
        } else {
            await context.alerts.resolve(fingerprint: tokensFingerprint)
        }

        return JobReport(
            summary: String(cFormat: "error rate %.2f%% (%d/%d), %d active tokens, %d secure schemas",
                            health.errorRate1h, health.recentErrors1h, health.recentOperations1h,
                            health.activeTokens, health.secureSchemasCount ?? 0),
            figures: [
                "error_rate_1h": .number(health.errorRate1h),
                "recent_operations_1h": .number(Double(health.recentOperations1h)),
                "recent_errors_1h": .number(Double(health.recentErrors1h)),
                "active_tokens": .number(Double(health.activeTokens)),
                "secure_schemas_count": .number(Double(health.secureSchemasCount ?? 0)),
                "rbac_available": .bool(health.rbacAvailable ?? false),
                "extension_version": .string(health.extensionVersion ?? ""),
            ]
        )
    }
}

/// A job failure with a message for status and the `JOB_FAILED` alert.
struct JobError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
