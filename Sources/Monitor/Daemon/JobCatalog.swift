import MonitorConfig

/// Turns the `[job.*]` sections of a configuration into job values and their schedules.
enum JobCatalog {
    static func jobs(for configuration: DaemonConfiguration) -> [(any MonitorJob, JobSettings)] {
        let health = configuration.healthCheck
        let verification = configuration.hashVerification
        let anomaly = configuration.anomalyDetection
        let retention = configuration.retention
        return [
            (HealthCheckJob(errorRateThreshold: health.errorRateThreshold, activeTokensThreshold: health.activeTokensThreshold),
             health.job),
            (TokenCleanupJob(), configuration.tokenCleanup.job),
            (HashVerificationJob(
                tables: verification.tables, batchSize: verification.batchSize,
                maxRowsPerSecond: verification.maxRowsPerSecond, concurrency: verification.concurrency,
                fixMismatches: verification.fixMismatches, floodThreshold: verification.alertFloodThreshold,
                statementTimeout: verification.statementTimeout),
             verification.job),
            (AnomalyDetectionJob(
                errors: .init(threshold: anomaly.errorThreshold, window: anomaly.errorWindow),
                volume: .init(threshold: anomaly.volumeThreshold, window: anomaly.volumeWindow),
                offHours: .init(threshold: anomaly.offHoursThreshold, window: anomaly.offHoursWindow),
                businessHours: anomaly.businessHours, timeZone: anomaly.timezone,
                slowOperationMs: anomaly.slowOperationMs, slowWindow: anomaly.slowWindow,
                criticalTables: anomaly.criticalTables, coverageWindow: anomaly.coverageWindow),
             anomaly.job),
            (AuditChainJob(batchSize: configuration.auditChain.batchSize,
                           fullVerificationInterval: configuration.auditChain.fullVerificationInterval),
             configuration.auditChain.job),
            (TableDigestJob(tables: configuration.tableDigest.tables, bucketRows: configuration.tableDigest.bucketRows,
                            floodThreshold: configuration.tableDigest.alertFloodThreshold),
             configuration.tableDigest.job),
            (RetentionJob(auditMaxAge: retention.auditMaxAge, batchSize: retention.batchSize), retention.job),
        ]
    }
}
