import EssentialsSupport
import FoundationEssentials

/// The syntax of the configuration file, before any meaning is given to it.
///
/// - `[section]` headers; section names may contain dots (`[job.health_check]`).
/// - `key = value` lines; the value is trimmed, and may be wrapped in double quotes to keep
///   surrounding spaces or an empty string (`conninfo = ""`).
/// - Comments are whole lines starting with `#` or `;`. A `#` inside a value is part of the
///   value (libpq conninfo strings and URLs may contain one).
/// - Blank lines are ignored. A key may appear once per section, a section once per file.
struct INIDocument {
    struct Entry {
        var key: String
        var value: String
        var line: Int
    }

    struct Section {
        var name: String
        var line: Int
        var entries: [Entry]
    }

    var sections: [Section]

    init(text: String, file: String) throws(ConfigError) {
        var sections: [Section] = []
        var seenSections: Set<String> = []
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let lineNumber = index + 1
            let line = rawLine.trimmingWhitespace()
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("[") {
                guard line.hasSuffix("]") else {
                    throw ConfigError(.malformedLine, file: file, line: lineNumber, message: "section header must end with ']': \(line)")
                }
                let name = line.dropFirst().dropLast().trimmingWhitespace()
                guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "." || $0 == "-" }) else {
                    throw ConfigError(.malformedLine, file: file, line: lineNumber, message: "invalid section name [\(name)]")
                }
                guard seenSections.insert(name).inserted else {
                    throw ConfigError(.duplicateSection, file: file, line: lineNumber, section: name, message: "section [\(name)] appears twice")
                }
                sections.append(Section(name: name, line: lineNumber, entries: []))
                continue
            }
            guard let equals = line.firstIndex(of: "=") else {
                throw ConfigError(.malformedLine, file: file, line: lineNumber, message: "expected 'key = value', '[section]' or a comment: \(line)")
            }
            let key = line[..<equals].trimmingWhitespace()
            var value = line[line.index(after: equals)...].trimmingWhitespace()
            guard !key.isEmpty, key.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else {
                throw ConfigError(.malformedLine, file: file, line: lineNumber, message: "invalid key '\(key)'")
            }
            guard !sections.isEmpty else {
                throw ConfigError(.keyOutsideSection, file: file, line: lineNumber, key: key, message: "key '\(key)' appears before any [section]")
            }
            if value.hasPrefix("\"") {
                guard value.count >= 2, value.hasSuffix("\"") else {
                    throw ConfigError(.malformedLine, file: file, line: lineNumber, section: sections[sections.count - 1].name, key: key,
                                      message: "[\(sections[sections.count - 1].name)] \(key): unterminated quoted value")
                }
                value = String(value.dropFirst().dropLast())
            }
            let current = sections.count - 1
            if sections[current].entries.contains(where: { $0.key == key }) {
                throw ConfigError(.duplicateKey, file: file, line: lineNumber, section: sections[current].name, key: key,
                                  message: "[\(sections[current].name)] \(key) is set twice")
            }
            sections[current].entries.append(Entry(key: key, value: value, line: lineNumber))
        }
        self.sections = sections
    }
}
