/// A configuration file that cannot be used, with the place that says why.
///
/// `description` reads `file:line: message`, the form editors and `check-config` users expect.
public struct ConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What kind of problem it is.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        let name: String
        public var description: String { name }

        public static let unreadableFile = Code(name: "unreadable file")
        public static let malformedLine = Code(name: "malformed line")
        public static let duplicateSection = Code(name: "duplicate section")
        public static let duplicateKey = Code(name: "duplicate key")
        public static let keyOutsideSection = Code(name: "key outside a section")
        public static let unknownSection = Code(name: "unknown section")
        public static let unknownKey = Code(name: "unknown key")
        public static let badValue = Code(name: "bad value")
        public static let missingKey = Code(name: "missing key")
        public static let conflictingKeys = Code(name: "conflicting keys")
    }

    public var code: Code
    public var file: String
    /// 1-based; 0 when the problem has no single line (e.g. a missing section).
    public var line: Int
    public var section: String?
    public var key: String?
    public var message: String

    public init(_ code: Code, file: String, line: Int, section: String? = nil, key: String? = nil, message: String) {
        self.code = code
        self.file = file
        self.line = line
        self.section = section
        self.key = key
        self.message = message
    }

    public var description: String {
        "\(file):\(line): \(message)"
    }
}
