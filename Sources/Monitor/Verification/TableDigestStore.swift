import Crypto
import EssentialsSupport
import FoundationEssentials
import Glibc
import MonitorConfig

/// Reads and writes the table digest job's state in `<state_directory>/table-digests/` (mode
/// 0700): per table a JSON file of its buckets (named by a hash of the table's name, since
/// names may hold any character), and the leaves of every bucket in `leaves/`, one file per
/// bucket named by the SHA-256 of its content, so a file whose content changed no longer
/// matches its name. All writes are atomic.
///
/// A new state is saved in two phases around signing its root: first as the table's pending
/// state (``savePending(_:)``), then, once the digest log holds its root, committed over the
/// table's state (``commit(_:)``). A daemon killed in between leaves a pending state, which
/// ``settle(_:signedRoot:)`` commits when the log has its root and discards when not; either
/// way the state matches the signed root again.
struct TableDigestStore: Sendable {
    let directory: String

    init(stateDirectory: String) {
        directory = stateDirectory + "/table-digests"
    }

    var leavesDirectory: String { directory + "/leaves" }

    /// A state or leaves file that is not what the job wrote.
    struct Damaged: Error, CustomStringConvertible {
        var description: String
    }

    func path(for table: SecureTable) -> String {
        let name = SHA256.hash(data: Data("\(table.schema.utf8.count):\(table.schema).\(table.table)".utf8)).hexadecimal
        return "\(directory)/\(name.prefix(32)).json"
    }

    /// The table's saved state; nil when there is none. Throws `Damaged` when the file exists
    /// but is not a state of this table.
    func load(_ table: SecureTable) throws -> TableDigestState? {
        let path = path(for: table)
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        guard let state = try? JSONDecoder().decode(TableDigestState.self, from: data), state.table == table else {
            throw Damaged(description: "\(path) is not a table digest state of \(table)")
        }
        return state
    }

    /// Where a new state of `table` waits until its root is signed.
    func pendingPath(for table: SecureTable) -> String {
        path(for: table) + ".pending"
    }

    /// Saves `state` as the table's pending state, to be committed once its root is signed.
    func savePending(_ state: TableDigestState) throws {
        try createDirectories()
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try writeAtomically(try encoder.encode(state), to: pendingPath(for: state.table))
    }

    /// Makes the table's pending state its state.
    func commit(_ table: SecureTable) throws {
        try renameDurably(pendingPath(for: table), to: path(for: table))
    }

    /// Finishes a save a crash interrupted: a pending state of `table` whose root the digest
    /// log holds (`signedRoot`) is committed; any other is removed (its root was never signed).
    func settle(_ table: SecureTable, signedRoot: String?) throws {
        let pending = pendingPath(for: table)
        guard let data = FileManager.default.contents(atPath: pending) else { return }
        if let state = try? JSONDecoder().decode(TableDigestState.self, from: data), state.table == table, state.root == signedRoot {
            try commit(table)
        } else {
            try FileManager.default.removeItem(atPath: pending)
        }
    }

    /// Every saved state (for removing leaves no state refers to any more).
    func allStates() -> [TableDigestState] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { $0.hasSuffix(".json") }.compactMap { name in
            FileManager.default.contents(atPath: "\(directory)/\(name)").flatMap { try? JSONDecoder().decode(TableDigestState.self, from: $0) }
        }
    }

    /// Writes a bucket's leaves (in key order) and returns the file's name: one line per row,
    /// its row digest, a space and its key, with `\`, CR and LF in the key escaped as `\\`,
    /// `\r` and `\n`.
    func writeLeaves(_ leaves: [RowLeaf]) throws -> String {
        var data = Data()
        for leaf in leaves {
            data.append(contentsOf: leaf.digest.utf8)
            data.append(UInt8(ascii: " "))
            for byte in leaf.key.utf8 {
                switch byte {
                case UInt8(ascii: "\\"): data.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
                case UInt8(ascii: "\n"): data.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
                case UInt8(ascii: "\r"): data.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
                default: data.append(byte)
                }
            }
            data.append(UInt8(ascii: "\n"))
        }
        let name = SHA256.hash(data: data).hexadecimal
        let path = "\(leavesDirectory)/\(name)"
        if !FileManager.default.fileExists(atPath: path) {
            try createDirectories()
            try writeAtomically(data, to: path)
        }
        return name
    }

    /// The leaves of `bucket`. Throws `Damaged` when the file is missing, differs from its
    /// name, or does not add up to the bucket's count and digest.
    func leaves(of bucket: DigestBucket) throws -> [RowLeaf] {
        let path = "\(leavesDirectory)/\(bucket.leaves)"
        guard let data = FileManager.default.contents(atPath: path) else {
            throw Damaged(description: "\(path) is missing")
        }
        guard SHA256.hash(data: data).hexadecimal == bucket.leaves else {
            throw Damaged(description: "\(path) was changed")
        }
        var leaves: [RowLeaf] = []
        for line in data.split(separator: UInt8(ascii: "\n")) {
            var key: [UInt8] = []
            var escaped = false
            for byte in line.dropFirst(65) {
                if escaped {
                    key.append(byte == UInt8(ascii: "n") ? UInt8(ascii: "\n") : byte == UInt8(ascii: "r") ? UInt8(ascii: "\r") : byte)
                    escaped = false
                } else if byte == UInt8(ascii: "\\") {
                    escaped = true
                } else {
                    key.append(byte)
                }
            }
            leaves.append(RowLeaf(key: String(decoding: key, as: UTF8.self), digest: String(decoding: line.prefix(64), as: UTF8.self)))
        }
        guard leaves.count == bucket.count, DigestBucket.digest(of: leaves) == bucket.digest else {
            throw Damaged(description: "\(path) does not add up to its bucket's digest")
        }
        return leaves
    }

    /// Removes leaves files that none of `states` refers to.
    func removeLeaves(keeping states: [TableDigestState]) {
        let referenced = Set(states.flatMap { $0.buckets.map(\.leaves) })
        for name in (try? FileManager.default.contentsOfDirectory(atPath: leavesDirectory)) ?? [] where !referenced.contains(name) {
            try? FileManager.default.removeItem(atPath: "\(leavesDirectory)/\(name)")
        }
    }

    private func createDirectories() throws {
        try FileManager.default.createDirectory(atPath: leavesDirectory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        chmod(directory, 0o700)
    }
}
