import FoundationEssentials
import Glibc
import Logging

/// Chooses where the daemon logs: the journal, in its native protocol with structured
/// fields, when standard error is connected to it (JOURNAL_STREAM names stderr's device and
/// inode, as systemd.exec(5) describes); readable lines on standard error otherwise.
public enum LoggingBootstrap {
    /// A factory for `LoggingSystem.bootstrap`.
    public static func handlerFactory(
        identifier: String, level: Logger.Level, environment: [String: String],
        journalSocket: String = "/run/systemd/journal/socket"
    ) -> @Sendable (String) -> any LogHandler {
        if stderrIsJournal(environment: environment), FileManager.default.fileExists(atPath: journalSocket) {
            let writer = JournalWriter(socketPath: journalSocket)
            return { label in JournalLogHandler(label: label, identifier: identifier, level: level, writer: writer) }
        }
        return { label in StderrLogHandler(label: label, level: level) }
    }

    /// Whether JOURNAL_STREAM (`device:inode`) matches standard error.
    public static func stderrIsJournal(environment: [String: String]) -> Bool {
        guard let stream = environment["JOURNAL_STREAM"] else { return false }
        let parts = stream.split(separator: ":")
        guard parts.count == 2, let device = UInt64(parts[0]), let inode = UInt64(parts[1]) else { return false }
        var info = stat()
        guard fstat(STDERR_FILENO, &info) == 0 else { return false }
        return UInt64(info.st_dev) == device && UInt64(info.st_ino) == inode
    }
}
