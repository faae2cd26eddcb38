import Crypto
import EssentialsSupport
import FoundationEssentials
import Glibc

/// One entry of the digest log: the audit chain head the daemon saw at a moment, and the roots of
/// its table digests when it recorded them, chained to the previous entry and signed with the
/// daemon's Ed25519 key.
public struct DigestEntry: Sendable, Codable, Equatable {
    /// 1 for the first entry, then consecutive.
    public var seq: Int
    /// When it was recorded, RFC 3339 UTC with milliseconds, exactly as signed.
    public var recordedAt: String
    /// The audit chain's head: its last sealed position and chain digest.
    public var auditHeadSeq: Int
    public var auditHeadDigest: String
    /// `link` of the previous entry (64 zeros for the first).
    public var previous: String
    /// The table digest job's root per secure table (`schema.table`), in entries it appended;
    /// nil in the audit chain job's entries.
    public var tableRoots: [String: String]?
    /// Base64 Ed25519 signature over `signedText`.
    public var signature: String

    enum CodingKeys: String, CodingKey {
        case seq, previous, signature
        case recordedAt = "recorded_at"
        case auditHeadSeq = "audit_head_seq"
        case auditHeadDigest = "audit_head_digest"
        case tableRoots = "table_roots"
    }

    /// The bytes the signature covers: a versioned line per field, so no field can run into
    /// another. Entries with table roots (version 2) add a line per table, in name order: the
    /// name's length in UTF-8 bytes, `:`, the name, a space and the root.
    public var signedText: String {
        guard let tableRoots else {
            return ["c77-secure-db digest 1", String(seq), recordedAt, String(auditHeadSeq), auditHeadDigest, previous]
                .joined(separator: "\n")
        }
        let tables = tableRoots.sorted { $0.key < $1.key }.map { "\($0.key.utf8.count):\($0.key) \($0.value)" }
        return (["c77-secure-db digest 2", String(seq), recordedAt, String(auditHeadSeq), auditHeadDigest, previous] + tables)
            .joined(separator: "\n")
    }

    /// What the next entry's `previous` must be: SHA-256 (hex) of this entry's signed text and
    /// its signature.
    public var link: String {
        SHA256.hash(data: Data((signedText + "\n" + signature).utf8)).hexadecimal
    }

    public static let genesis = String(repeating: "0", count: 64)
}

/// What `c77-secure-dbctl digest export` writes: the entries and the public key that checks them.
public struct DigestExport: Sendable, Codable, Equatable {
    public static let currentFormat = "c77-secure-db-digests/1"
    public var format: String
    /// Base64 of the raw 32-byte Ed25519 public key.
    public var publicKey: String
    public var entries: [DigestEntry]

    public init(publicKey: String, entries: [DigestEntry]) {
        format = Self.currentFormat
        self.publicKey = publicKey
        self.entries = entries
    }

    enum CodingKeys: String, CodingKey {
        case format, entries
        case publicKey = "public_key"
    }

    public static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }()

    public static let decoder = JSONDecoder()

    /// Every problem of the entries, checked with `publicKey` alone: a bad signature, a broken
    /// link, a gap in the numbering, an audit head that moved backwards. Empty: intact.
    public func problems() -> [String] {
        problems(after: nil)
    }

    /// The problems of the entries as the continuation of `earlier`, an entry already checked
    /// (nil: the entries start the log).
    public func problems(after earlier: DigestEntry?) -> [String] {
        guard let keyData = Data(base64Encoded: publicKey),
              let key = try? Curve25519.Signing.PublicKey(rawRepresentation: keyData) else {
            return ["the public key is not a base64 Ed25519 key"]
        }
        guard let first = entries.first else { return earlier == nil ? ["the log has no entries"] : [] }
        var problems: [String] = []
        if earlier == nil, first.seq != 1 || first.previous != DigestEntry.genesis {
            problems.append("the log does not start at entry 1 from the genesis link (it starts at entry \(first.seq)): entries were removed")
        }
        var previous = earlier
        for entry in entries {
            let signed = Data(base64Encoded: entry.signature).map { key.isValidSignature($0, for: Data(entry.signedText.utf8)) }
            if signed != true {
                problems.append("entry \(entry.seq): the signature does not verify")
            }
            if let previous {
                if entry.seq != previous.seq &+ 1 {
                    problems.append("entry \(entry.seq): follows entry \(previous.seq) (entries missing)")
                }
                if entry.previous != previous.link {
                    problems.append("entry \(entry.seq): does not link to entry \(previous.seq)")
                }
                if entry.auditHeadSeq < previous.auditHeadSeq {
                    problems.append("entry \(entry.seq): the audit chain head moved back from \(previous.auditHeadSeq) to \(entry.auditHeadSeq)")
                } else if entry.auditHeadSeq == previous.auditHeadSeq, entry.auditHeadDigest != previous.auditHeadDigest {
                    problems.append("entry \(entry.seq): the audit chain head \(entry.auditHeadSeq) has another digest than in entry \(previous.seq): the chain was rewritten")
                }
            }
            previous = entry
        }
        return problems
    }
}

extension [DigestEntry] {
    /// The table digest roots of the latest entry that has them (empty when none has).
    public var latestTableRoots: [String: String] {
        last { $0.tableRoots != nil }?.tableRoots ?? [:]
    }
}

/// The daemon's append-only digest log (`<state_directory>/digests.jsonl`, one JSON entry per
/// line) and its signing key (`<state_directory>/digest-signing.key`, raw 32 bytes, mode
/// 0600, created on first use).
public struct DigestLog: Sendable {
    public let path: String
    public let keyPath: String

    public init(stateDirectory: String) {
        path = stateDirectory + "/digests.jsonl"
        keyPath = stateDirectory + "/digest-signing.key"
    }

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// The signing key, created (exclusively, mode 0600) when there is none — but never next to
    /// an existing log: a new key there would quietly start a new line of signatures.
    public func signingKey() throws -> Curve25519.Signing.PrivateKey {
        if let data = FileManager.default.contents(atPath: keyPath) {
            guard let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: data) else {
                throw Failure(description: "\(keyPath) is not a 32-byte Ed25519 key")
            }
            return key
        }
        guard !FileManager.default.fileExists(atPath: path) else {
            throw Failure(description: "\(keyPath) is missing but \(path) exists: restore the key; a new one would not verify the log")
        }
        let key = Curve25519.Signing.PrivateKey()
        try FileManager.default.createDirectory(atPath: keyPath.parentDirectory,
                                                withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try Self.writeSynced(key.rawRepresentation, to: keyPath, flags: O_CREAT | O_EXCL)
        return key
    }

    /// The entries in the file (none when it does not exist). Throws when a line is not an entry.
    public func entries() throws -> [DigestEntry] {
        try entries(skipping: 0, limit: Int.max).entries
    }

    /// Verifies the log, reading only what was appended since `known` when the file still
    /// holds what `known` verified (as long, and ending with the same line); otherwise, or
    /// without `known`, all of it. So a daemon that checks its log every minute reads a few
    /// new lines, not years of entries; a rewritten prefix of the same length is caught by the
    /// next full check.
    public func verify(since known: VerifiedDigestLog?) throws -> DigestLogCheck {
        let publicKey = try self.publicKey()
        if let known, known.publicKey == publicKey, let file = ReadableFile(path: path) {
            let size = try file.size()
            let line = known.lastLine + Data([UInt8(ascii: "\n")])
            let start = known.length - line.count
            if size >= known.length, start >= 0 {
                let data = try file.read(from: start)
                if data.prefix(line.count) == line {
                    let added = try Self.decode(Self.lines(data.dropFirst(line.count)), path: path, firstLine: (known.recent.last?.seq ?? 0) + 1)
                    let problems = DigestExport(publicKey: publicKey, entries: added.map(\.entry)).problems(after: known.recent.last)
                        + Self.tornEnd(data)
                    return DigestLogCheck(known: known, adding: added, length: start + data.count, problems: problems)
                }
            }
        }
        let data = FileManager.default.contents(atPath: path) ?? Data()
        let all = try Self.decode(Self.lines(data[...]), path: path, firstLine: 1)
        let problems = DigestExport(publicKey: publicKey, entries: all.map(\.entry)).problems() + Self.tornEnd(data)
        return DigestLogCheck(known: VerifiedDigestLog(publicKey: publicKey), adding: all, length: data.count, problems: problems)
    }

    /// A log whose last line has no newline was cut short while it was written (or edited):
    /// the next entry would be appended to that line.
    private static func tornEnd(_ data: Data) -> [String] {
        guard let last = data.last, last != UInt8(ascii: "\n") else { return [] }
        return ["the last line has no end (a write was cut short, or the file was edited)"]
    }

    /// The file's last entry (nil for an empty or missing file), read from its end.
    public func lastEntry() throws -> DigestEntry? {
        guard let file = ReadableFile(path: path) else { return nil }
        let size = try file.size()
        let window = min(size, 1 << 20)
        var tail = try file.read(from: size - window)
        if window < size, !tail.dropLast().contains(UInt8(ascii: "\n")) {
            tail = FileManager.default.contents(atPath: path) ?? Data()   // an entry longer than the window
        }
        let lines = Self.lines(tail[...])
        guard let line = lines.last else { return nil }
        do {
            return try DigestExport.decoder.decode(DigestEntry.self, from: Data(line))
        } catch {
            throw Failure(description: "\(path): the last line is not a digest entry")
        }
    }

    /// The non-empty lines of `bytes`.
    private static func lines(_ bytes: Data.SubSequence) -> [Data.SubSequence] {
        bytes.split(separator: UInt8(ascii: "\n"))
    }

    /// The entries of `lines` with each line's bytes; throws at a line that is not an entry,
    /// numbering lines from `firstLine`.
    private static func decode(_ lines: some Collection<Data.SubSequence>, path: String, firstLine: Int) throws -> [(entry: DigestEntry, line: Data)] {
        var decoded: [(entry: DigestEntry, line: Data)] = []
        for (index, line) in lines.enumerated() {
            do {
                decoded.append((try DigestExport.decoder.decode(DigestEntry.self, from: Data(line)), Data(line)))
            } catch {
                throw Failure(description: "\(path):\(firstLine + index): not a digest entry")
            }
        }
        return decoded
    }

    /// At most `limit` entries after the first `skipping` lines of the file, and whether more
    /// follow; only those lines are decoded, so a long log is read page by page cheaply.
    /// Throws when one of them is not an entry.
    public func entries(skipping: Int, limit: Int) throws -> (entries: [DigestEntry], more: Bool) {
        guard let data = FileManager.default.contents(atPath: path) else { return ([], false) }
        let lines = Self.lines(data[...])
        let start = max(skipping, 0)
        guard start < lines.count else { return ([], false) }
        let end = limit >= lines.count - start ? lines.count : start + limit
        return (try Self.decode(lines[start..<end], path: path, firstLine: start + 1).map(\.entry), end < lines.count)
    }

    /// The file's entries with the public key, ready to ship to write-once storage. Throws
    /// when no key was created yet (nothing was recorded).
    public func export() throws -> DigestExport {
        try exportPage(skipping: 0, limit: Int.max).export
    }

    /// One page of the export: the public key and at most `limit` entries after the first
    /// `skipping`, and whether more follow (`c77-secure-dbctl digest export` asks page by
    /// page, so a long log never has to fit in one control-socket answer).
    public func exportPage(skipping: Int, limit: Int) throws -> (export: DigestExport, more: Bool) {
        let publicKey = try self.publicKey()
        let page = try entries(skipping: skipping, limit: limit)
        return (DigestExport(publicKey: publicKey, entries: page.entries), page.more)
    }

    /// The public key (base64 of the raw 32 bytes). Throws when no key was created yet
    /// (nothing was recorded).
    public func publicKey() throws -> String {
        guard FileManager.default.fileExists(atPath: keyPath) else {
            throw Failure(description: "no digests recorded yet (\(keyPath) does not exist)")
        }
        return try signingKey().publicKey.rawRepresentation.base64EncodedString()
    }

    /// Appends a signed entry for the audit chain head (and table digest roots) after `last`
    /// (nil: the first entry), and syncs it to disk before returning it.
    @discardableResult
    public func append(auditHeadSeq: Int, auditHeadDigest: String, tableRoots: [String: String]? = nil,
                       after last: DigestEntry?) throws -> DigestEntry {
        let key = try signingKey()
        var entry = DigestEntry(seq: (last?.seq ?? 0) &+ 1, recordedAt: Date().formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true)), auditHeadSeq: auditHeadSeq,
                                auditHeadDigest: auditHeadDigest, previous: last?.link ?? DigestEntry.genesis, tableRoots: tableRoots,
                                signature: "")
        entry.signature = try key.signature(for: Data(entry.signedText.utf8)).base64EncodedString()
        var line = try DigestExport.encoder.encode(entry)
        line.append(UInt8(ascii: "\n"))
        try Self.writeSynced(line, to: path, flags: O_CREAT | O_APPEND)
        return entry
    }

    /// Writes `data` to `path` (mode 0600, opened with `flags` besides write-only) and syncs it
    /// to disk before returning.
    private static func writeSynced(_ data: Data, to path: String, flags: Int32) throws {
        let fd = open(path, O_WRONLY | O_CLOEXEC | flags, 0o600)
        guard fd >= 0 else { throw Failure(description: "cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let written = data.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == data.count, fsync(fd) == 0 else {
            throw Failure(description: "cannot write \(path): \(String(cString: strerror(errno)))")
        }
    }
}

/// What a reader verified of the log file: its first `length` bytes, ending with `lastLine`
/// and a newline, hold entries that verify. It keeps the most recent entries and the latest table roots, not
/// the whole log.
public struct VerifiedDigestLog: Sendable, Equatable {
    /// How many of the latest entries are kept.
    public static let recentLimit = 1000

    public var publicKey: String
    public var length = 0
    public var lastLine = Data()
    /// The latest entries, oldest first, at most ``recentLimit``.
    public var recent: [DigestEntry] = []
    /// The table digest roots of the latest entry that has them.
    public var tableRoots: [String: String] = [:]
}

/// The outcome of ``DigestLog/verify(since:)``.
public struct DigestLogCheck: Sendable {
    /// What is now verified; nil when there are problems (the next check reads everything).
    public var verified: VerifiedDigestLog?
    /// The latest entries read, at most ``VerifiedDigestLog/recentLimit`` (also with problems).
    public var recent: [DigestEntry]
    public var problems: [String]

    init(known: VerifiedDigestLog, adding added: [(entry: DigestEntry, line: Data)], length: Int, problems: [String]) {
        var next = known
        next.length = length
        if let last = added.last { next.lastLine = last.line }
        next.recent = Array((known.recent + added.map(\.entry)).suffix(VerifiedDigestLog.recentLimit))
        if let roots = added.last(where: { $0.entry.tableRoots != nil })?.entry.tableRoots { next.tableRoots = roots }
        verified = problems.isEmpty ? next : nil
        recent = next.recent
        self.problems = problems
    }
}
