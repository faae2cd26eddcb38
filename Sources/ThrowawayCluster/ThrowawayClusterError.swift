import EssentialsSupport
import FoundationEssentials

/// Why a ``ThrowawayCluster`` operation failed.
public struct ThrowawayClusterError: Error, Sendable, CustomStringConvertible {
    /// What failed, e.g. `initdb` or `psql`.
    public var operation: String
    /// The tool's diagnostics: its stderr, or the tail of the server log when the server did not start.
    public var output: String
    /// Source location that raised the error.
    public var file: String
    /// Source line that raised the error.
    public var line: Int

    /// Creates an error for `operation` with the tool's diagnostics.
    public init(operation: String, output: String, file: String = #fileID, line: Int = #line) {
        self.operation = operation
        self.output = output
        self.file = file
        self.line = line
    }

    public var description: String {
        let trimmed = output.trimmingWhitespace()
        return trimmed.isEmpty ? "\(operation) failed" : "\(operation) failed:\n\(trimmed)"
    }
}
