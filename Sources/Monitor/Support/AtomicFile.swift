import EssentialsSupport
import FoundationEssentials
import Glibc

/// Replaces the file at `path` with `data` so that readers see the old or the new content,
/// never a torn one, also after a crash: write a temporary file, fsync it, rename(2) it over
/// the target, fsync the directory. Mode 0600.
func writeAtomically(_ data: Data, to path: String) throws {
    let temporary = path + ".tmp"
    let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
    guard fd >= 0 else { throw AtomicFileError(path: temporary, errno: errno) }
    let written = data.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    let synced = fsync(fd)
    close(fd)
    guard written == data.count, synced == 0 else { throw AtomicFileError(path: temporary, errno: errno) }
    try renameDurably(temporary, to: path)
}

/// Renames `source` over `path` (rename(2): atomic), then fsyncs the directory so that the
/// rename survives a crash.
func renameDurably(_ source: String, to path: String) throws {
    guard rename(source, path) == 0 else { throw AtomicFileError(path: path, errno: errno) }
    let directory = open(path.parentDirectory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    if directory >= 0 {
        fsync(directory)
        close(directory)
    }
}

/// A file that could not be written.
struct AtomicFileError: Error, CustomStringConvertible {
    var path: String
    var errno: Int32
    var description: String { "cannot write \(path): \(String(cString: strerror(errno)))" }
}
