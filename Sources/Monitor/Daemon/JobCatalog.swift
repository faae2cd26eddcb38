import MonitorConfig

/// Turns the `[job.*]` sections of a configuration into job values and their schedules.
enum JobCatalog {
    static func jobs(for configuration: DaemonConfiguration) -> [(any MonitorJob, JobPlan)] {
        let health = configuration.healthCheck
        return [
            (HealthCheckJob(errorRateThreshold: health.errorRateThreshold,
                            activeTokensThreshold: health.activeTokensThreshold),
             JobPlan(health.job)),
            (TokenCleanupJob(), JobPlan(configuration.tokenCleanup.job)),
        ]
    }
}
