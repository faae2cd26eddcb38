import ControlSocket
import FoundationEssentials
import Logging
import MonitorConfig

/// The shared state of one table's verification while its workers run: the checkpoint,
/// the mismatch count and the alerts, progress, and periodic checkpoint saves.
actor VerificationPass {
    private(set) var checkpoint: VerificationCheckpoint
    private let store: CheckpointStore
    private let context: JobContext
    private let job: String
    private let floodThreshold: Int
    private let rowsTotal: Int?
    private let started = ContinuousClock.now
    private let rowsAtStart: Int
    private var lastSave = ContinuousClock.now
    private var summaryKeys: [String] = []
    /// Every mismatch this pass found (key and stored hash), kept only when they are to be
    /// fixed afterwards: the fix rewrites exactly the rows that were alerted on.
    private let collectsMismatches: Bool
    private(set) var mismatchesToFix: [RangeResult.Mismatch] = []

    init(checkpoint: VerificationCheckpoint, store: CheckpointStore, context: JobContext, job: String,
         floodThreshold: Int, rowsTotal: Int?, collectsMismatches: Bool = false) {
        self.checkpoint = checkpoint
        self.collectsMismatches = collectsMismatches
        self.store = store
        self.context = context
        self.job = job
        self.floodThreshold = floodThreshold
        self.rowsTotal = rowsTotal
        self.rowsAtStart = checkpoint.rowsDone
    }

    var table: SecureTable { checkpoint.table }

    /// Takes one batch's result for a segment: raises an alert per mismatch up to the flood
    /// threshold (the rest are summarized by `finish()`), moves the segment's checkpoint on,
    /// reports progress, and saves the checkpoint at most once a second.
    func record(segment index: Int, result: RangeResult) async {
        for mismatch in result.mismatches ?? [] {
            checkpoint.mismatches += 1
            if checkpoint.mismatches <= floodThreshold {
                await context.alerts.raise(tamperingAlert(mismatch))
            }
            if summaryKeys.count < floodThreshold { summaryKeys.append(mismatch.primaryKeyValue) }
            if collectsMismatches { mismatchesToFix.append(mismatch) }
        }
        checkpoint.rowsDone += result.rowsChecked ?? 0
        checkpoint.unhashed += result.unhashed ?? 0
        if let lastKey = result.lastKey { checkpoint.segments[index].afterKey = lastKey }
        if result.done == true { checkpoint.segments[index].done = true }
        reportProgress()
        if ContinuousClock.now - lastSave >= .seconds(1) { save() }
    }

    /// Ends the table's pass: a summary alert when mismatches exceeded the flood threshold,
    /// and the checkpoint is removed.
    func finish() async {
        if checkpoint.mismatches > floodThreshold {
            await context.alerts.raise(Alert(
                type: .dataTampering, severity: .critical,
                summary: "\(checkpoint.mismatches) rows of \(table) do not match their content hashes (first \(summaryKeys.count) keys listed)",
                job: job, database: context.database.reachability.database, schema: table.schema, table: table.table,
                details: [
                    "mismatch_count": .number(Double(checkpoint.mismatches)),
                    "first_keys": .array(summaryKeys.map(JSONValue.string)),
                    "individual_alerts": .number(Double(floodThreshold)),
                ],
                fingerprint: Alert.fingerprint(.dataTampering, table.schema, table.table, "summary")
            ))
        }
        store.remove(table)
    }

    /// Saves the checkpoint now (e.g. when the run is cancelled).
    func save() {
        do {
            try store.save(checkpoint)
            lastSave = .now
        } catch {
            context.logger.warning("Could not save verification checkpoint: \(error)", metadata: ["table": "\(table)"])
        }
    }

    private func tamperingAlert(_ mismatch: RangeResult.Mismatch) -> Alert {
        var details: [String: JSONValue] = ["primary_key_value": .string(mismatch.primaryKeyValue)]
        details["stored_hash"] = mismatch.storedHash.map(JSONValue.string) ?? .null
        details["calculated_hash"] = mismatch.calculatedHash.map(JSONValue.string) ?? .null
        if let version = mismatch.hashVersion { details["hash_version"] = .number(Double(version)) }
        return Alert(
            type: .dataTampering, severity: .critical,
            summary: "Row \(mismatch.primaryKeyValue) of \(table) does not match its content hash",
            job: job, database: context.database.reachability.database,
            schema: table.schema, table: table.table, recordID: mismatch.primaryKeyValue,
            details: details
        )
    }

    private func reportProgress() {
        let elapsed = (ContinuousClock.now - started).timeInterval
        let rate = elapsed > 0 ? Double(checkpoint.rowsDone - rowsAtStart) / elapsed : nil
        var eta: Int?
        if let rate, rate > 0, let total = rowsTotal, total > checkpoint.rowsDone {
            eta = Int(Double(total - checkpoint.rowsDone) / rate)
        }
        context.progress.report(JobProgress(
            current: table.description, rowsDone: checkpoint.rowsDone,
            rowsTotal: rowsTotal.map { max($0, checkpoint.rowsDone) }, rowsPerSecond: rate, etaSeconds: eta
        ))
    }
}
