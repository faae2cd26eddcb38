/// The answer of `c77_secure_db_verify_range(schema, table, after_key, max_rows, until_key)`.
struct RangeResult: Decodable, Sendable {
    struct Mismatch: Decodable, Sendable {
        var primaryKeyValue: String
        var storedHash: String?
        var calculatedHash: String?
        var hashVersion: Int?

        enum CodingKeys: String, CodingKey {
            case primaryKeyValue = "primary_key_value"
            case storedHash = "stored_hash"
            case calculatedHash = "calculated_hash"
            case hashVersion = "hash_version"
        }
    }

    var success: Bool
    var error: String?
    var rowsChecked: Int?
    var unhashed: Int?
    var lastKey: String?
    var done: Bool?
    var mismatches: [Mismatch]?

    enum CodingKeys: String, CodingKey {
        case success, error, unhashed, done, mismatches
        case rowsChecked = "rows_checked"
        case lastKey = "last_key"
    }
}
