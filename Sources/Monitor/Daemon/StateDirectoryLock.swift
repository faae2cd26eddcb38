import EssentialsSupport
import FoundationEssentials
import Glibc

/// An exclusive flock(2) on `<state_directory>/c77-secure-dbd.lock`, held for the life of the
/// process: two daemons on one state directory would interleave their appends to the digest
/// log and overwrite each other's table digests and checkpoints. The kernel drops the lock when
/// the process ends, however it ends, so a stale file never blocks a start. The file holds the
/// holder's pid, for the message a second daemon prints.
public final class StateDirectoryLock: Sendable {
    public let path: String
    private let descriptor: Int32

    /// Another process holds the lock.
    public struct InUse: Error, CustomStringConvertible {
        public var path: String
        /// The holder's pid as it wrote it, when readable.
        public var holder: String?
        public var description: String {
            "state_directory is in use by another c77-secure-dbd\(holder.map { " (pid \($0))" } ?? "") holding \(path); stop it first, or give this one its own state_directory"
        }
    }

    /// Takes the lock, creating the directory (mode 0700) and the file as needed; throws
    /// ``InUse`` at once when another process holds it.
    public init(stateDirectory: String) throws {
        path = stateDirectory + "/c77-secure-dbd.lock"
        try FileManager.default.createDirectory(atPath: stateDirectory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw AtomicFileError(path: path, errno: errno) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let failure = errno
            close(fd)
            guard failure == EWOULDBLOCK else { throw AtomicFileError(path: path, errno: failure) }
            let holder = (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingWhitespace()
            throw InUse(path: path, holder: holder?.isEmpty == false ? holder : nil)
        }
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = pwrite(fd, pid, pid.count, 0)
        descriptor = fd
    }

    deinit {
        close(descriptor)
    }
}
