import ControlSocket
import DigestLog
import FoundationEssentials
import Postgres

extension JobContext {
    /// Records a digest log entry this process appended in the database as well
    /// (`c77_secure_db_record_digest_head()`): the witness that catches a log rolled back to an
    /// older entry. The database refuses entries older than the one it holds (another job may
    /// have recorded a later one meanwhile); that is logged, not thrown.
    func recordDigestHead(_ entry: DigestEntry) async throws {
        let text = try await database.withConnection { connection in
            try await connection.query("SELECT c77_secure_db_record_digest_head($1::bigint, $2)::text AS result",
                                       [.text(String(entry.seq)), .text(entry.link)]).first?.string("result")
        }
        let answer = try JSONDecoder().decode(JSONValue.self, from: Data((text ?? "{}").utf8))
        if answer["success"] != .bool(true) {
            logger.warning("the database refused digest entry \(entry.seq): \(answer["error"]?.stringValue ?? text ?? "")")
        }
    }
}
