import EssentialsSupport
import FoundationEssentials
import Glibc
import MonitorConfig

/// How far a pass over one table has got, kept in `state_directory` so that a restarted
/// daemon resumes a long pass instead of starting over.
///
/// The table's key space is split into segments (one per worker); each segment remembers the
/// last key it verified. A checkpoint belongs to one pass and is removed when the table is done.
struct VerificationCheckpoint: Sendable, Codable, Equatable {
    struct Segment: Sendable, Codable, Equatable {
        /// Verification continues after this key (nil: from the segment's start).
        var afterKey: String?
        /// The segment's last key, inclusive (nil: to the end of the table).
        var untilKey: String?
        var done: Bool

        enum CodingKeys: String, CodingKey {
            case done
            case afterKey = "after_key"
            case untilKey = "until_key"
        }
    }

    var table: SecureTable
    var startedAt: Date
    var segments: [Segment]
    var rowsDone: Int
    var mismatches: Int
    var unhashed: Int

    enum CodingKeys: String, CodingKey {
        case table, segments, mismatches, unhashed
        case startedAt = "started_at"
        case rowsDone = "rows_done"
    }
}

/// Reads and writes checkpoints under `<state_directory>/verification/`.
struct CheckpointStore: Sendable {
    let directory: String

    init(stateDirectory: String) {
        directory = stateDirectory + "/verification"
    }

    func load(_ table: SecureTable) -> VerificationCheckpoint? {
        guard let data = FileManager.default.contents(atPath: path(table)) else { return nil }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        guard let checkpoint = try? decoder.decode(VerificationCheckpoint.self, from: data), checkpoint.table == table else {
            return nil
        }
        return checkpoint
    }

    /// Replaces the checkpoint atomically (write to a temporary file, fsync, rename).
    func save(_ checkpoint: VerificationCheckpoint) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        try writeAtomically(try encoder.encode(checkpoint), to: path(checkpoint.table))
    }

    func remove(_ table: SecureTable) {
        try? FileManager.default.removeItem(atPath: path(table))
    }

    /// One file per table; names are percent-encoded so any identifier is a safe file name.
    func path(_ table: SecureTable) -> String {
        "\(directory)/\(Self.fileNameComponent(table.schema)).\(Self.fileNameComponent(table.table)).json"
    }

    /// `text` with every byte of its UTF-8 but ASCII letters, digits, `_` and `-`
    /// percent-encoded: the names earlier versions wrote with Foundation's
    /// `addingPercentEncoding(withAllowedCharacters:)` (which on Linux encodes all non-ASCII).
    private static func fileNameComponent(_ text: String) -> String {
        var name = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "_"), UInt8(ascii: "-"):
                name.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                name += String(cFormat: "%%%02X", byte)
            }
        }
        return name
    }
}
