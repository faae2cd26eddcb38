import ArgumentParser
import ControlSocket
import DigestLog
import Foundation

/// `c77-secure-dbctl digest export|verify`: the daemon's signed log of audit chain heads and table digest roots.
struct Digest: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Export the daemon's signed digest log, or verify an exported one.",
        subcommands: [Export.self, Verify.self]
    )

    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write the digest log and its public key as JSON (to ship to write-once storage)."
        )
        @OptionGroup var options: ConnectionOptions
        @Option(name: [.short, .long], help: "Write to this file instead of standard output.") var output: String?

        func run() throws {
            // Page by page (the daemon answers at most a few thousand entries at a time).
            var data = try options.send(ControlRequest(cmd: "digest_export"))
            var entries = data["entries"]?.arrayValue ?? []
            while data["more"] == .bool(true) {
                data = try options.send(ControlRequest(cmd: "digest_export", args: ["skip": .integer(entries.count)]))
                let page = data["entries"]?.arrayValue ?? []
                guard !page.isEmpty else { break }
                entries += page
            }
            guard case .object(var whole) = data else { throw ValidationError("the daemon's answer is not an export") }
            whole["entries"] = .array(entries)
            whole["more"] = nil
            let text = JSONValue.object(whole).prettyJSON + "\n"
            if let output {
                try Data(text.utf8).write(to: URL(fileURLWithPath: output), options: .atomic)
                let count = entries.count
                print("Exported \(count) digest entr\(count == 1 ? "y" : "ies") to \(output).")
            } else {
                print(text, terminator: "")
            }
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check an exported digest log offline: signatures, links, numbering.",
            discussion: "Exit status: 0 intact, 1 not intact, 65 not a digest export. Needs no daemon."
        )
        @Argument(help: "The file `digest export` wrote.") var file: String
        @Option(help: "Require this public key (base64) instead of trusting the one in the file.") var publicKey: String?
        @Flag(name: .long, help: "Print the result as JSON.") var json = false

        func run() throws {
            let export: DigestExport
            do {
                export = try DigestExport.decoder.decode(DigestExport.self, from: Data(contentsOf: URL(fileURLWithPath: file)))
            } catch {
                FileHandle.standardError.write(Data("c77-secure-dbctl: \(file) is not a digest export: \(error)\n".utf8))
                throw ExitCode(65)
            }
            var problems = export.format == DigestExport.currentFormat ? [] : ["unknown format '\(export.format)'"]
            if let publicKey, publicKey != export.publicKey {
                problems.append("the file is signed with another key than the one required")
            }
            problems += export.problems()
            let head = export.entries.last
            if json {
                let result: JSONValue = [
                    "intact": .bool(problems.isEmpty), "entries": .number(Double(export.entries.count)),
                    "public_key": .string(export.publicKey), "problems": .array(problems.map(JSONValue.string)),
                    "audit_head_seq": head.map { .number(Double($0.auditHeadSeq)) } ?? .null,
                    "audit_head_digest": head.map { .string($0.auditHeadDigest) } ?? .null,
                    "table_roots": .object(export.entries.latestTableRoots.mapValues(JSONValue.string)),
                ]
                print(result.prettyJSON)
            } else if problems.isEmpty {
                print("Intact: \(export.entries.count) entries, signatures valid, links unbroken.")
                if let head { print("Latest: entry \(head.seq) at \(head.recordedAt), audit chain head \(head.auditHeadSeq) \(head.auditHeadDigest)") }
                if let tables = export.entries.last(where: { $0.tableRoots != nil }) {
                    print("Table digests: roots of \(tables.tableRoots?.count ?? 0) table(s) in entry \(tables.seq)")
                }
                print("Public key: \(export.publicKey)")
                if publicKey == nil {
                    print("Note: checked with the key the file carries. Pass --public-key with the key you recorded earlier:")
                    print("anyone can sign a whole new log with a key of their own.")
                }
            } else {
                print("NOT intact:")
                for problem in problems { print("  \(problem)") }
            }
            if !problems.isEmpty { throw ExitCode(1) }
        }
    }
}
