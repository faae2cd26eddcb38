import Crypto
import EssentialsSupport
import FoundationEssentials
import MonitorConfig

/// One row as the table digest job remembers it: its primary key (as text) and its row digest
/// (hex SHA-256 of the whole row, as `c77_secure_db_row_digests()` computes it).
struct RowLeaf: Sendable, Equatable {
    var key: String
    var digest: String
}

/// One primary-key bucket of a table: the rows after the previous bucket's `until` (or from
/// the start) up to `until` inclusive (nil: no upper bound; only the last bucket).
struct DigestBucket: Sendable, Codable, Equatable {
    var until: String?
    var count: Int
    /// The extension's bucket digest: SHA-256 of the row digests in key order.
    var digest: String
    /// SHA-256 (hex) of the file holding the bucket's leaves, which is also the file's name.
    var leaves: String

    /// The bucket digest of `leaves` (in key order), as `c77_secure_db_bucket_digests()`
    /// computes it.
    static func digest(of leaves: [RowLeaf]) -> String {
        var hasher = SHA256()
        for leaf in leaves { hasher.update(data: Data(hexadecimal: leaf.digest)) }
        return hasher.finalize().hexadecimal
    }
}

/// What the table digest job keeps of one table between passes, outside the database
/// (`<state_directory>/table-digests/`). Its `root` goes into the signed digest log.
struct TableDigestState: Sendable, Codable, Equatable {
    var table: SecureTable
    /// The audit chain head (`seal_seq`) when the pass that recorded this state began: audited
    /// operations sealed after it (or not yet sealed) explain changes the next pass finds.
    var auditSeq: Int
    var buckets: [DigestBucket]

    enum CodingKeys: String, CodingKey {
        case table, buckets
        case auditSeq = "audit_seq"
    }

    /// SHA-256 (hex) over a versioned text of the table's name, `auditSeq` and every bucket
    /// (bound, count, digest, leaves file), names and keys prefixed with their UTF-8 length so
    /// none can run into the next.
    var root: String {
        func field(_ text: String) -> String { "\(text.utf8.count):\(text)" }
        var text = "c77-secure-db table digest 1\n\(field(table.schema))\n\(field(table.table))\n\(auditSeq)\n"
        for bucket in buckets {
            text += "\(bucket.until.map(field) ?? "-") \(bucket.count) \(bucket.digest) \(bucket.leaves)\n"
        }
        return SHA256.hash(data: Data(text.utf8)).hexadecimal
    }

    /// The bounds `c77_secure_db_bucket_digests()` takes for buckets `range`: the previous
    /// bucket's upper bound (nil for the first), then each bucket's.
    func bounds(_ range: Range<Int>) -> [String?] {
        [range.lowerBound == 0 ? nil : buckets[range.lowerBound - 1].until] + buckets[range].map(\.until)
    }
}

extension Data {
    /// The bytes that lowercase or uppercase hex text spells (pairs of digits; anything else
    /// stops the conversion).
    init(hexadecimal text: String) {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count / 2)
        var high: UInt8?
        for character in text.utf8 {
            guard let nibble = Self.nibble(character) else { break }
            if let first = high {
                bytes.append(first << 4 | nibble)
                high = nil
            } else {
                high = nibble
            }
        }
        self.init(bytes)
    }

    private static func nibble(_ character: UInt8) -> UInt8? {
        switch character {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): character - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): character - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): character - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
