/// A row whose digest is not what the table digest job recorded for its key last pass.
struct RowChange: Sendable, Equatable {
    enum Kind: String, Sendable {
        /// The key is still there; the row's content (any column, timestamps included) differs.
        case changed
        /// The key is gone.
        case vanished
        /// The key is new.
        case appeared
    }

    var key: String
    var kind: Kind
    /// The row digest recorded last pass (nil: appeared).
    var before: String?
    /// The row digest now (nil: vanished).
    var after: String?

    /// The changes from `old` to `new` leaves of one key range: changed and appeared rows in
    /// the order of `new`, then vanished rows in the order of `old`. Keys are compared byte for
    /// byte, as PostgreSQL does (Swift's `String` equality would merge canonically equivalent
    /// keys such as NFC and NFD "é", which are two rows).
    static func between(_ old: [RowLeaf], _ new: [RowLeaf]) -> [RowChange] {
        var previous = Dictionary(old.map { (Array($0.key.utf8), $0.digest) }, uniquingKeysWith: { first, _ in first })
        var changes: [RowChange] = []
        for leaf in new {
            switch previous.removeValue(forKey: Array(leaf.key.utf8)) {
            case nil: changes.append(RowChange(key: leaf.key, kind: .appeared, before: nil, after: leaf.digest))
            case let digest? where digest != leaf.digest:
                changes.append(RowChange(key: leaf.key, kind: .changed, before: digest, after: leaf.digest))
            default: break
            }
        }
        for leaf in old where previous[Array(leaf.key.utf8)] != nil {
            changes.append(RowChange(key: leaf.key, kind: .vanished, before: leaf.digest, after: nil))
        }
        return changes
    }

    /// Whether successful audited `operations` on this row (`operation_type` of
    /// `c77_secure_db_operation_audit`), or a re-hash of its whole table, account for the change:
    /// a row appears by insert or upsert, vanishes by delete, and changes by any write
    /// (delete and insert again included) or by a re-hash.
    func isExplained(by operations: Set<String>, tableRehashed: Bool) -> Bool {
        switch kind {
        case .appeared: !operations.isDisjoint(with: ["insert", "upsert"])
        case .vanished: operations.contains("delete")
        case .changed: tableRehashed || !operations.isDisjoint(with: ["insert", "update", "upsert", "soft_delete", "fix_hash"])
        }
    }
}
