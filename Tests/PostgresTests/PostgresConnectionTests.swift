import Foundation
import Postgres
import Testing
import ThrowawayCluster

@Suite(.throwawayCluster) struct PostgresConnectionTests {
    @Test func connectsWithKeywordConninfo() async throws {
        let connection = try await connect()
        defer { connection.close() }
        #expect(connection.serverVersion >= 140000)
        let row = try #require(try await connection.query("SELECT pg_backend_pid() AS pid, current_setting('application_name') AS app").first)
        #expect(try row.int("pid") == Int(connection.backendPID))
        #expect(try row.string("app") == "c77-secure-dbd")
    }

    @Test func connectsWithURIAndPercentEncodedSocketHost() async throws {
        let cluster = try cluster
        let host = cluster.socketDirectory.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
        let uri = "postgresql://postgres@\(host):\(cluster.port)/postgres?application_name=from-uri"
        let connection = try await PostgresConnection.connect(PostgresConfiguration(conninfo: uri), logger: testLogger)
        defer { connection.close() }
        let row = try #require(try await connection.query("SELECT current_setting('application_name') AS app").first)
        #expect(try row.string("app") == "from-uri")
    }

    @Test func passwordFileAuthenticatesScramRole() async throws {
        let cluster = try cluster
        try cluster.psql("CREATE ROLE pwuser LOGIN PASSWORD 'correct horse'")
        let hba = cluster.dataDirectory + "/pg_hba.conf"
        let rules = try String(contentsOfFile: hba, encoding: .utf8)
        try ("local all pwuser scram-sha-256\n" + rules).write(toFile: hba, atomically: false, encoding: .utf8)
        try cluster.psql("SELECT pg_reload_conf()")

        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(UUID().uuidString)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let good = directory.appendingPathComponent("good").path
        let bad = directory.appendingPathComponent("bad").path
        try "correct horse\n".write(toFile: good, atomically: true, encoding: .utf8)
        try "wrong\n".write(toFile: bad, atomically: true, encoding: .utf8)

        let connection = try await connect(user: "pwuser") { $0.passwordFile = good }
        defer { connection.close() }
        #expect(try await connection.query("SELECT session_user AS u").first?.string("u") == "pwuser")

        let wrong = await postgresError { _ = try await connect(user: "pwuser") { $0.passwordFile = bad } }
        #expect(wrong?.code == .connectionFailed)
        #expect(wrong?.message.contains("password authentication failed") == true)
        #expect(wrong?.message.contains("wrong") == false)

        let missing = await postgresError { _ = try await connect(user: "pwuser") { $0.passwordFile = directory.path + "/none" } }
        #expect(missing?.message.contains("password_file") == true)
    }

    @Test func wrongPortFailsClearly() async throws {
        let cluster = try cluster
        let configuration = PostgresConfiguration(conninfo: "host=\(cluster.socketDirectory) port=1 dbname=postgres")
        let error = await postgresError { _ = try await PostgresConnection.connect(configuration, logger: testLogger) }
        #expect(error?.code == .connectionFailed)
        #expect(error?.isConnectionError == true)
        #expect(error?.message.contains(".s.PGSQL.1") == true)
    }

    @Test func connectTimeoutIsHonoured() async throws {
        let port = try silentListener()
        defer { close(port.descriptor) }
        let configuration = PostgresConfiguration(
            conninfo: "host=127.0.0.1 port=\(port.number) dbname=postgres user=postgres sslmode=disable",
            connectTimeout: .milliseconds(500)
        )
        let start = ContinuousClock.now
        let error = await postgresError { _ = try await PostgresConnection.connect(configuration, logger: testLogger) }
        #expect(error?.code == .timedOut)
        #expect(error?.isConnectionError == true)
        #expect(ContinuousClock.now - start < .seconds(20), "bounded by connect_timeout, not hanging")

        let fromConninfo = PostgresConfiguration(conninfo: "host=127.0.0.1 port=\(port.number) connect_timeout=2 sslmode=disable")
        let error2 = await postgresError { _ = try await PostgresConnection.connect(fromConninfo, logger: testLogger) }
        #expect(error2?.code == .timedOut)
        #expect(ContinuousClock.now - start < .seconds(40), "bounded by connect_timeout, not hanging")
    }

    @Test func cancellingTheTaskCancelsConnecting() async throws {
        let port = try silentListener()
        defer { close(port.descriptor) }
        let configuration = PostgresConfiguration(conninfo: "host=127.0.0.1 port=\(port.number) sslmode=disable")
        let start = ContinuousClock.now
        let connecting = Task { try await PostgresConnection.connect(configuration, logger: testLogger) }
        try await Task.sleep(for: .milliseconds(200))
        connecting.cancel()
        #expect(await postgresError { _ = try await connecting.value }?.code == .cancelled)
        #expect(ContinuousClock.now - start < .seconds(30), "without cancellation it would wait forever")
    }

    /// A TCP listener that never accepts: connecting succeeds, but no server ever answers.
    private func silentListener() throws -> (descriptor: Int32, number: UInt16) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let listening = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && listen(fd, 1) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard fd >= 0, listening else {
            close(fd)
            throw PostgresError(.connectionFailed, "cannot listen on 127.0.0.1")
        }
        return (fd, UInt16(bigEndian: address.sin_port))
    }

    @Test func boundParametersRoundTripUnchanged() async throws {
        let connection = try await connect()
        defer { connection.close() }
        try await connection.execute("CREATE TABLE bound_params (id serial PRIMARY KEY, note text, n bigint, ok boolean, at timestamptz)")
        let hostile = "'); DROP TABLE bound_params; --"
        let when = Date(timeIntervalSince1970: 1_700_000_000.25)
        let inserted = try await connection.execute(
            "INSERT INTO bound_params (note, n, ok, at) VALUES ($1, $2, $3, $4), ($5, $6, $7, $8)",
            [.text(hostile), PostgresValue(Int64.max), true, PostgresValue(when), nil, -1, false, .null]
        )
        #expect(inserted == 2)
        let rows = try await connection.query("SELECT note, n, ok, extract(epoch FROM at)::float8 AS epoch FROM bound_params ORDER BY id")
        #expect(rows.count == 2)
        #expect(rows.columns == ["note", "n", "ok", "epoch"])
        #expect(try rows[0].string("note") == hostile)
        #expect(try rows[0].int64("n") == Int64.max)
        #expect(try rows[0].bool("ok"))
        #expect(try rows[0].double("epoch") == 1_700_000_000.25)
        #expect(try rows[1].optionalString("note") == nil)
        #expect(rows[1]["epoch"] == nil)
        #expect(rows[1][index: 1] == "-1")
        #expect(try await connection.query("SELECT $1::text AS v", ["ünïcødé ✓"]).first?.string("v") == "ünïcødé ✓")

        let nul = await postgresError { _ = try await connection.query("SELECT $1::text", ["a\u{0}b"]) }
        #expect(nul?.code == .invalidParameter)
    }

    @Test func typedDecodingFailsClearly() async throws {
        let connection = try await connect()
        defer { connection.close() }
        let row = try #require(try await connection.query(
            "SELECT 'abc' AS word, NULL::int AS nothing, '{\"a\": [1, 2]}'::jsonb AS doc, 't'::bool AS yes"
        ).first)
        let notInt = #expect(throws: PostgresError.self) { try row.int("word") }
        #expect(notInt?.code == .decoding)
        #expect(notInt?.message == "column \"word\": expected an integer, got \"abc\"")
        let null = #expect(throws: PostgresError.self) { try row.int("nothing") }
        #expect(null?.message == "column \"nothing\" is NULL")
        let missing = #expect(throws: PostgresError.self) { try row.string("absent") }
        #expect(missing?.message.contains("no column \"absent\"") == true)
        #expect(throws: PostgresError.self) { try row.bool("word") }
        #expect(try row.bool("yes"))

        struct Document: Decodable { var a: [Int] }
        #expect(try JSONDecoder().decode(Document.self, from: row.json("doc")).a == [1, 2])
    }

    @Test func serverErrorsCarrySQLState() async throws {
        let connection = try await connect()
        defer { connection.close() }
        let undefined = await postgresError { _ = try await connection.query("SELECT * FROM no_such_table") }
        #expect(undefined?.code == .queryFailed)
        #expect(undefined?.sqlState == "42P01")
        #expect(undefined?.message == "relation \"no_such_table\" does not exist")
        #expect(undefined?.isConnectionError == false)

        try await connection.execute("CREATE TABLE uniq (k int PRIMARY KEY)")
        try await connection.execute("INSERT INTO uniq VALUES ($1)", [1])
        let duplicate = await postgresError { try await connection.execute("INSERT INTO uniq VALUES ($1)", [1]) }
        #expect(duplicate?.sqlState == "23505")
        #expect(duplicate?.detail == "Key (k)=(1) already exists.")
        #expect(duplicate?.description.contains("SQLSTATE 23505") == true)

        // The connection stays usable after errors.
        #expect(try await connection.query("SELECT count(*) AS n FROM uniq").first?.int("n") == 1)
    }

    @Test func statementTimeoutSurfacesAs57014() async throws {
        let connection = try await connect { $0.statementTimeout = .milliseconds(200) }
        defer { connection.close() }
        let error = await postgresError { _ = try await connection.query("SELECT pg_sleep(5)") }
        #expect(error?.code == .queryFailed)
        #expect(error?.sqlState == "57014")
        #expect(try await connection.query("SELECT 1 AS one").first?.int("one") == 1)
    }

    @Test func cancellingTheTaskCancelsTheStatement() async throws {
        let connection = try await connect()
        defer { connection.close() }
        let start = ContinuousClock.now
        let sleeper = Task { try await connection.query("SELECT pg_sleep(120)") }
        try await Task.sleep(for: .milliseconds(300))
        sleeper.cancel()
        let error = await postgresError { _ = try await sleeper.value }
        #expect(error?.code == .cancelled)
        #expect(error?.sqlState == "57014")
        #expect(ContinuousClock.now - start < .seconds(60), "well before pg_sleep(120) ends")
        #expect(try await connection.query("SELECT 2 AS two").first?.int("two") == 2)

        let another = Task { try await connection.query("SELECT pg_sleep(10)") }
        try await Task.sleep(for: .milliseconds(300))
        connection.cancel()
        #expect(await postgresError { _ = try await another.value }?.code == .cancelled)

        let early = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await connection.query("SELECT 3")
        }
        #expect(await postgresError { _ = try await early.value }?.code == .cancelled)
    }

    @Test func listenNotifyAcrossConnections() async throws {
        let listener = try await connect()
        let sender = try await connect()
        defer {
            listener.close()
            sender.close()
        }
        try await listener.listen("c77 \"Alerts\"")
        try await sender.notify(channel: "c77 \"Alerts\"", payload: "{\"type\":\"DATA_TAMPERING\"}")
        var iterator = listener.notifications.makeAsyncIterator()
        let received = try #require(await iterator.next())
        #expect(received.channel == "c77 \"Alerts\"")
        #expect(received.payload == "{\"type\":\"DATA_TAMPERING\"}")
        #expect(received.pid == sender.backendPID)

        try await listener.unlisten("c77 \"Alerts\"")
        listener.close()
        #expect(await iterator.next() == nil)
    }

    @Test func closeAndLostConnectionsFailClearly() async throws {
        let connection = try await connect()
        connection.close()
        connection.close()
        #expect(connection.isClosed)
        #expect(await postgresError { _ = try await connection.query("SELECT 1") }?.code == .closed)

        let victim = try await connect()
        let killer = try await connect()
        defer { killer.close() }
        try await killer.execute("SELECT pg_terminate_backend($1)", [PostgresValue(Int(victim.backendPID))])
        let lost = await postgresError {
            for _ in 0..<50 {
                _ = try await victim.query("SELECT 1")
                try await Task.sleep(for: .milliseconds(20))
            }
        }
        #expect(lost?.isConnectionError == true)
        #expect(victim.isClosed)
    }
}
