import ControlSocket
import FoundationEssentials
import Postgres

/// Checks, at the start of every verification pass, that the protection itself is intact:
///
/// - the `c77_secure_db` extension is installed;
/// - no schema left the registry since the last pass (`c77_secure_db_manage_secure_schemas('remove')`
///   or a superuser deleting the registry row);
/// - every table of every secure schema has its `c77_secure_db` triggers, all enabled;
/// - the extension's functions and event triggers are the ones installed with its version:
///   each one's definition (body, SECURITY DEFINER, pinned settings, owner, extension
///   membership; event, function and tags of an event trigger) is kept in `state_directory`
///   and re-taken after an upgrade, so an altered, dropped, detached or added object is named;
/// - its event triggers fire in ordinary sessions (neither disabled nor `ENABLE REPLICA`).
///
/// Each problem is a critical `PROTECTION_DRIFT` condition naming the object; it is resolved
/// once a later pass finds the object intact again.
struct ProtectionDriftCheck {
    let stateDirectory: String
    let job: String

    /// What the last pass saw, so the next one can tell what changed.
    struct Baseline: Codable, Equatable {
        var extensionVersion: String
        var objectsFingerprint: String
        var schemas: [String]
        /// Each function and event trigger of the extension ("function name(args)",
        /// "event trigger name") with its attributes. Nil in baselines written before objects
        /// were recorded one by one; those are compared by `objectsFingerprint` only.
        var objects: [String: [String: String]]?
    }

    struct Outcome {
        var findings: Int
    }

    private var baselinePath: String { stateDirectory + "/protection-baseline.json" }

    func run(in context: JobContext) async throws -> Outcome {
        let database = context.database.reachability.database
        var problems: [(fingerprint: String, summary: String, schema: String?, table: String?, details: [String: JSONValue])] = []

        let snapshot = try await context.database.withConnection { connection in
            try await Self.observe(connection)
        }
        let previous = loadBaseline()
        let missingFingerprint = Alert.fingerprint(.protectionDrift, "extension")
        guard let current = snapshot.baseline else {
            await context.alerts.raiseCondition(Alert(
                type: .protectionDrift, severity: .critical,
                summary: "The c77_secure_db extension is not installed in database \(database ?? "?")",
                job: job, database: database, details: ["object": "extension c77_secure_db"],
                fingerprint: missingFingerprint
            ))
            return Outcome(findings: 1)
        }
        await context.alerts.resolve(fingerprint: missingFingerprint)

        if let previous {
            for schema in previous.schemas where !current.schemas.contains(schema) {
                problems.append((Alert.fingerprint(.protectionDrift, schema, nil, "unregistered"),
                                 "Schema \(schema) was removed from the secure schema registry", schema, nil,
                                 ["object": .string("schema \(schema)"), "problem": "removed from registry"]))
            }
            if previous.extensionVersion == current.extensionVersion {
                if let before = previous.objects, let now = current.objects {
                    for change in Self.objectChanges(from: before, to: now) {
                        problems.append((Alert.fingerprint(.protectionDrift, "extension-object", change.object),
                                         "The c77_secure_db extension's \(change.object) was \(change.summary)", nil, nil,
                                         ["object": .string(change.object), "problem": .string(change.problem),
                                          "changes": .object(change.attributes.mapValues { diff in
                                              .object(["expected": diff.expected.map(JSONValue.string) ?? .null,
                                                       "found": diff.found.map(JSONValue.string) ?? .null])
                                          })]))
                    }
                } else if previous.objectsFingerprint != current.objectsFingerprint {
                    problems.append((Alert.fingerprint(.protectionDrift, "extension-objects"),
                                     "The c77_secure_db extension's functions or event triggers were altered, added or dropped",
                                     nil, nil,
                                     ["object": "extension c77_secure_db functions and event triggers",
                                      "expected_fingerprint": .string(previous.objectsFingerprint),
                                      "found_fingerprint": .string(current.objectsFingerprint)]))
                }
            }
        }
        for trigger in snapshot.disabledEventTriggers {
            let problem = trigger.replicaOnly ? "enabled for replica sessions only" : "disabled"
            problems.append((Alert.fingerprint(.protectionDrift, "event-trigger", trigger.name),
                             "Event trigger \(trigger.name) of c77_secure_db is \(problem)", nil, nil,
                             ["object": .string("event trigger \(trigger.name)"), "problem": .string(problem)]))
        }
        for table in snapshot.tables where table.problem != nil {
            problems.append((Alert.fingerprint(.protectionDrift, table.schema, table.table, "triggers"),
                             "Secure table \(table.schema).\(table.table): \(table.problem!)", table.schema, table.table,
                             ["object": .string("table \(table.schema).\(table.table)"), "problem": .string(table.problem!)]))
        }

        let firing = Set(problems.map(\.fingerprint))
        for problem in problems {
            await context.alerts.raiseCondition(Alert(
                type: .protectionDrift, severity: .critical, summary: problem.summary, job: job, database: database,
                schema: problem.schema, table: problem.table, details: problem.details, fingerprint: problem.fingerprint
            ))
        }
        for alert in await context.alerts.firing() where alert.type == .protectionDrift && !firing.contains(alert.fingerprint) {
            await context.alerts.resolve(fingerprint: alert.fingerprint)
        }

        // Keep the registry as last seen only when nothing was removed, so a removal keeps
        // alerting until an operator acknowledges it by re-registering the schema (or by
        // deleting the baseline file). The objects fingerprint is re-taken after an upgrade.
        var next = current
        if let previous, previous.extensionVersion == current.extensionVersion {
            next.objectsFingerprint = previous.objectsFingerprint
            next.objects = previous.objects ?? current.objects
            next.schemas = Array(Set(previous.schemas).union(current.schemas)).sorted()
        }
        saveBaseline(next)
        return Outcome(findings: problems.count)
    }

    /// One look at the catalog.
    struct Snapshot {
        struct Table {
            var schema: String
            var table: String
            var problem: String?
        }

        /// An event trigger of the extension that does not fire in ordinary sessions.
        struct DisabledEventTrigger {
            var name: String
            /// `ENABLE REPLICA`: fires only with `session_replication_role = replica`.
            var replicaOnly: Bool
        }

        var baseline: Baseline?
        var tables: [Table]
        var disabledEventTriggers: [DisabledEventTrigger]
    }

    /// How one extension object differs from the baseline.
    struct ObjectChange {
        var object: String
        /// "altered", "dropped or detached from the extension", "added".
        var problem: String
        var attributes: [String: (expected: String?, found: String?)]

        /// "altered (security: definer → invoker)", "dropped or detached from the extension", …
        var summary: String {
            guard problem == "altered" else { return problem }
            let parts = attributes.keys.sorted().map { key in
                let change = attributes[key]!
                return key == "body" ? "body changed" : "\(key): \(change.expected ?? "none") → \(change.found ?? "none")"
            }
            return "altered (\(parts.joined(separator: ", ")))"
        }
    }

    /// Every object whose attributes differ between two baselines, in name order.
    static func objectChanges(from before: [String: [String: String]], to now: [String: [String: String]]) -> [ObjectChange] {
        Set(before.keys).union(now.keys).sorted().compactMap { object in
            switch (before[object], now[object]) {
            case let (old?, new?):
                var attributes: [String: (expected: String?, found: String?)] = [:]
                for key in Set(old.keys).union(new.keys) where old[key] != new[key] {
                    attributes[key] = (old[key], new[key])
                }
                return attributes.isEmpty ? nil : ObjectChange(object: object, problem: "altered", attributes: attributes)
            case (_?, nil):
                return ObjectChange(object: object, problem: "dropped or detached from the extension", attributes: [:])
            case (nil, _?):
                return ObjectChange(object: object, problem: "added", attributes: [:])
            case (nil, nil):
                return nil
            }
        }
    }

    static func observe(_ connection: PostgresConnection) async throws -> Snapshot {
        guard let version = try await connection.query(
            "SELECT extversion FROM pg_extension WHERE extname = 'c77_secure_db'"
        ).first?.string("extversion") else {
            return Snapshot(baseline: nil, tables: [], disabledEventTriggers: [])
        }
        let fingerprint = try await connection.query("""
            WITH ext AS (SELECT oid FROM pg_extension WHERE extname = 'c77_secure_db'),
            objects AS (
                SELECT 'f:' || p.oid::regprocedure::text || ':' || md5(p.prosrc) || ':' || p.prosecdef::text
                       || ':' || coalesce(array_to_string(p.proconfig, ','), '') || ':' || p.proowner::regrole::text AS item
                FROM pg_depend d JOIN pg_proc p ON p.oid = d.objid
                WHERE d.classid = 'pg_proc'::regclass AND d.refclassid = 'pg_extension'::regclass
                  AND d.refobjid = (SELECT oid FROM ext) AND d.deptype = 'e'
                UNION ALL
                SELECT 'e:' || e.evtname || ':' || e.evtevent || ':' || e.evtfoid::regprocedure::text
                FROM pg_depend d JOIN pg_event_trigger e ON e.oid = d.objid
                WHERE d.classid = 'pg_event_trigger'::regclass AND d.refclassid = 'pg_extension'::regclass
                  AND d.refobjid = (SELECT oid FROM ext) AND d.deptype = 'e'
            )
            SELECT md5(coalesce(string_agg(item, '|' ORDER BY item), '')) || '/' || count(*) AS fingerprint FROM objects
            """).first?.string("fingerprint") ?? ""
        // Each object, by name, with what matters for the protection. Functions and event
        // triggers named like the extension's count too when they are not (or no longer)
        // its members: a detached-then-replaced function is drift, not a new object.
        var objects: [String: [String: String]] = [:]
        for row in try await connection.query("""
            WITH ext AS (SELECT oid, extnamespace FROM pg_extension WHERE extname = 'c77_secure_db'),
            members AS (
                SELECT d.classid, d.objid FROM pg_depend d
                WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = (SELECT oid FROM ext) AND d.deptype = 'e'
            )
            SELECT 'function ' || p.oid::regprocedure::text AS object,
                   jsonb_build_object(
                       'body', md5(coalesce(p.prosrc, '') || ':' || coalesce(p.probin, '')),
                       'security', CASE WHEN p.prosecdef THEN 'definer' ELSE 'invoker' END,
                       'settings', coalesce(array_to_string(p.proconfig, ', '), ''),
                       'owner', p.proowner::regrole::text,
                       'language', (SELECT lanname FROM pg_language WHERE oid = p.prolang),
                       'extension_member', CASE WHEN m.objid IS NULL THEN 'no' ELSE 'yes' END)::text AS attributes
            FROM pg_proc p
            LEFT JOIN members m ON m.classid = 'pg_proc'::regclass AND m.objid = p.oid
            WHERE m.objid IS NOT NULL
               OR (p.pronamespace = (SELECT extnamespace FROM ext) AND p.proname LIKE 'c77\\_secure\\_db\\_%')
            UNION ALL
            SELECT 'event trigger ' || e.evtname,
                   jsonb_build_object(
                       'event', e.evtevent,
                       'function', e.evtfoid::regprocedure::text,
                       'tags', coalesce(array_to_string(e.evttags, ', '), ''),
                       'owner', e.evtowner::regrole::text,
                       'extension_member', CASE WHEN m.objid IS NULL THEN 'no' ELSE 'yes' END)::text
            FROM pg_event_trigger e
            LEFT JOIN members m ON m.classid = 'pg_event_trigger'::regclass AND m.objid = e.oid
            WHERE m.objid IS NOT NULL OR e.evtname LIKE 'c77\\_secure\\_db%'
            """) {
            let attributes = try JSONDecoder().decode([String: String].self, from: Data(try row.string("attributes").utf8))
            objects[try row.string("object")] = attributes
        }
        let disabled = try await connection.query("""
            SELECT e.evtname, e.evtenabled FROM pg_event_trigger e
            WHERE e.evtname LIKE 'c77\\_secure\\_db%' AND e.evtenabled NOT IN ('O', 'A') ORDER BY 1
            """).map { row in
            Snapshot.DisabledEventTrigger(name: try row.string("evtname"), replicaOnly: try row.string("evtenabled") == "R")
        }
        let schemas = try await connection.query(
            "SELECT schema_name FROM c77_secure_db_secure_schemas ORDER BY 1"
        ).map { try $0.string("schema_name") }
        let tables = try await connection.query("""
            SELECT n.nspname AS schema_name, c.relname AS table_name,
                   count(t.oid) AS triggers,
                   count(t.oid) FILTER (WHERE t.tgenabled = 'D') AS disabled
            FROM c77_secure_db_secure_schemas s
            JOIN pg_namespace n ON n.nspname = s.schema_name
            JOIN pg_class c ON c.relnamespace = n.oid AND c.relkind IN ('r', 'p')
            LEFT JOIN pg_trigger t ON t.tgrelid = c.oid AND NOT t.tgisinternal AND t.tgname LIKE 'c77\\_secure\\_db%'
            GROUP BY 1, 2 ORDER BY 1, 2
            """).map { row -> Snapshot.Table in
            let triggers = try row.int("triggers"), disabled = try row.int("disabled")
            var problem: String?
            if triggers == 0 {
                problem = "protection triggers are missing"
            } else if disabled > 0 {
                problem = "\(disabled) protection trigger(s) disabled"
            }
            return Snapshot.Table(schema: try row.string("schema_name"), table: try row.string("table_name"), problem: problem)
        }
        return Snapshot(
            baseline: Baseline(extensionVersion: version, objectsFingerprint: fingerprint, schemas: schemas, objects: objects),
            tables: tables, disabledEventTriggers: disabled
        )
    }

    private func loadBaseline() -> Baseline? {
        guard let data = FileManager.default.contents(atPath: baselinePath) else { return nil }
        return try? JSONDecoder().decode(Baseline.self, from: data)
    }

    private func saveBaseline(_ baseline: Baseline) {
        try? FileManager.default.createDirectory(atPath: stateDirectory, withIntermediateDirectories: true)
        guard let data = try? JSONEncoder().encode(baseline) else { return }
        try? writeAtomically(data, to: baselinePath)
    }
}
