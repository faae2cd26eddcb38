import EssentialsSupport
import FoundationEssentials
import Glibc

/// The webhook sink's on-disk queue: every alert is written here, durably, before the first
/// delivery attempt and removed only after a 2xx answer, so neither a receiver outage nor a
/// crash of the daemon loses one. Deliveries that can never succeed move to `failed/`.
///
/// One file per alert, `<sequence>-<webhook-id>.json`, written to a temporary name, fsync'd,
/// renamed and the directory fsync'd. File names sort in enqueue order.
struct WebhookSpool: Sendable {
    /// One spooled delivery.
    struct Entry: Sendable, Codable, Equatable {
        /// The `webhook-id` header: the alert's id, the same on every redelivery.
        var id: String
        var body: String
        var file: String

        enum CodingKeys: String, CodingKey { case id, body }

        init(id: String, body: String, file: String) {
            self.id = id
            self.body = body
            self.file = file
        }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            id = try container.decode(String.self, forKey: .id)
            body = try container.decode(String.self, forKey: .body)
            file = ""
        }
    }

    /// A spool operation that failed, naming the path.
    struct SpoolError: Error, CustomStringConvertible {
        var description: String
    }

    let directory: String

    init(directory: String) throws {
        self.directory = directory
        for path in [directory, directory + "/failed"] {
            do {
                try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            } catch {
                throw SpoolError(description: "cannot create spool directory \(path): \(error.systemDescription)")
            }
        }
    }

    /// Durably stores a delivery and returns its entry.
    func append(id: String, body: String) throws -> Entry {
        let sequence = String(cFormat: "%016llu", UInt64(Date().timeIntervalSince1970 * 1_000_000))
        let name = "\(sequence)-\(id.filter { $0.isLetter || $0.isNumber || $0 == "-" }).json"
        let data = try JSONEncoder().encode(Entry(id: id, body: body, file: name))
        let temporary = "\(directory)/.\(name).tmp"
        try writeDurably(data, to: temporary)
        guard rename(temporary, "\(directory)/\(name)") == 0 else {
            throw SpoolError(description: "cannot rename \(temporary): \(String(cString: strerror(errno)))")
        }
        try syncDirectory()
        return Entry(id: id, body: body, file: name)
    }

    /// Every pending delivery, oldest first; unreadable files are moved to `failed/`.
    func pending() -> [Entry] {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
            .filter { $0.hasSuffix(".json") && !$0.hasPrefix(".") }
            .sorted()
        return names.compactMap { name in
            guard let data = FileManager.default.contents(atPath: "\(directory)/\(name)"),
                  var entry = try? JSONDecoder().decode(Entry.self, from: data) else {
                rename("\(directory)/\(name)", "\(directory)/failed/\(name)")
                return nil
            }
            entry.file = name
            return entry
        }
    }

    /// Forgets a delivered entry.
    func remove(_ entry: Entry) {
        unlink("\(directory)/\(entry.file)")
        try? syncDirectory()
    }

    /// Moves an entry that can never be delivered to `failed/`, where an operator can inspect it.
    func deadLetter(_ entry: Entry) {
        rename("\(directory)/\(entry.file)", "\(directory)/failed/\(entry.file)")
        try? syncDirectory()
    }

    private func writeDurably(_ data: Data, to path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw SpoolError(description: "cannot create \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let written = data.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == data.count, fsync(fd) == 0 else {
            throw SpoolError(description: "cannot write \(path): \(String(cString: strerror(errno)))")
        }
    }

    private func syncDirectory() throws {
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw SpoolError(description: "cannot open \(directory): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        fsync(fd)
    }
}
