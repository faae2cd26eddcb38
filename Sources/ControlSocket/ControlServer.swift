import Dispatch
import EssentialsSupport
import FoundationEssentials
import Glibc
import Synchronization

/// The daemon's side of the status socket: a Unix stream socket speaking newline-delimited JSON.
///
/// Each line a client sends is one ``ControlRequest``; the server answers each with one
/// ``ControlResponse`` line, in order, and keeps the connection open for more; blank lines are
/// ignored and a trailing `\r` is dropped. The server is
/// command-agnostic: every well-formed request goes to the handler with the caller's
/// ``PeerCredentials``. Lines that are not requests are answered by the server itself with
/// `{"ok":false,"error":"malformed request: …"}`; a line over ``ControlServerLimits/maxLineLength``
/// gets `request too long` and the connection closes.
///
/// No socket I/O runs on Swift's cooperative thread pool: a dedicated thread accepts clients (with
/// `poll` on the listening socket and a wake-up pipe), and each client gets a thread of its own
/// that waits for the handler's answer. Only the handler runs as a task.
public final class ControlServer: Sendable {
    /// Where the socket lives.
    public let path: String
    /// The socket file's permission bits, e.g. `0o660`.
    public let mode: mode_t
    /// The socket file's group, by name or number, or `nil` to keep the daemon's group.
    public let group: String?
    /// The bounds applied to clients.
    public let limits: ControlServerLimits
    private let bridge: HandlerBridge
    private let state = Mutex(State.idle)

    private enum State {
        case idle
        case running(Listener)
        case stopped
    }

    /// What a running server holds.
    private struct Listener {
        let fd: Int32
        let wakeRead: Int32
        let wakeWrite: Int32
        /// The socket file's identity, so that ``stop()`` removes this file and no other.
        let device: dev_t
        let inode: ino_t
        let loopFinished: DispatchSemaphore
        let connections: ConnectionRegistry
    }

    /// A server that is not listening yet; call ``start()``.
    /// - Parameters:
    ///   - path: The socket path, at most 107 bytes, in an existing directory.
    ///   - mode: The socket file's permission bits; a client needs write permission to connect.
    ///   - group: The group to give the socket file (name or number), or `nil`.
    ///   - limits: Bounds on line length, clients, idle time and nesting.
    ///   - handler: Answers each well-formed request. It runs as a task, once per request, and must
    ///     return: the client's thread waits for it.
    public init(
        path: String,
        mode: mode_t,
        group: String?,
        limits: ControlServerLimits = ControlServerLimits(),
        handler: @escaping @Sendable (ControlRequest, PeerCredentials) async -> ControlResponse
    ) {
        self.path = path
        self.mode = mode
        self.group = group
        self.limits = limits
        self.bridge = HandlerBridge(handler: handler)
    }

    deinit {
        stop()
    }

    /// Creates the socket file and starts accepting clients.
    ///
    /// A socket file left behind by a dead daemon is replaced; a socket someone listens on, or a
    /// file that is not a socket, is left alone and reported. The directory is not created: under
    /// systemd, `RuntimeDirectory=` does that. Permissions and group are set before the socket
    /// listens, so no client ever connects through looser ones.
    /// - Throws: ``ControlServerError`` saying what is wrong with the path, group or system.
    public func start() throws(ControlServerError) {
        try state.withLock { (state) throws(ControlServerError) in
            guard case .idle = state else {
                throw ControlServerError(.alreadyStarted, path: path, message: "the server for \(path) was already started")
            }
            state = .running(try listen())
        }
    }

    /// Stops accepting clients, removes the socket file and shuts down open connections.
    ///
    /// Waits for the accept thread to finish, but not for handlers still running: their replies are
    /// discarded. Does nothing if the server is not running.
    public func stop() {
        let taken: Listener? = state.withLock { state in
            guard case .running(let listener) = state else { return nil }
            state = .stopped
            return listener
        }
        guard let listener = taken else { return }
        var byte: UInt8 = 1
        _ = write(listener.wakeWrite, &byte, 1)
        listener.loopFinished.wait()
        close(listener.fd)
        var status = stat()
        if lstat(path, &status) == 0 && status.st_dev == listener.device && status.st_ino == listener.inode {
            unlink(path)
        }
        close(listener.wakeRead)
        close(listener.wakeWrite)
        listener.connections.shutdownAll()
    }

    private func listen() throws(ControlServerError) -> Listener {
        guard UnixSocket.isValidPath(path) else {
            throw failure(.invalidPath, "socket path \(path) is empty, contains a NUL byte or is longer than \(UnixSocket.maxPathLength) bytes")
        }
        let groupID = try resolveGroup()
        try checkDirectory()
        try removeStaleSocket()

        let fd = UnixSocket.makeStreamSocket()
        guard fd >= 0 else { throw systemFailure("cannot create a socket for") }
        guard UnixSocket.withAddress(path, { bind(fd, $0, $1) }) == 0 else {
            let error = errno == EADDRINUSE
                ? failure(.addressInUse, "another process created socket \(path) just now")
                : systemFailure("cannot bind")
            close(fd)
            throw error
        }
        do {
            return try configureAndListen(fd, groupID: groupID)
        } catch {
            close(fd)
            unlink(path)
            throw error
        }
    }

    private func configureAndListen(_ fd: Int32, groupID: gid_t?) throws(ControlServerError) -> Listener {
        guard chmod(path, mode) == 0 else { throw systemFailure("cannot set the mode of") }
        if let groupID, chown(path, uid_t.max, groupID) != 0 {
            throw systemFailure("cannot give group \(group ?? "") to")
        }
        var status = stat()
        guard lstat(path, &status) == 0 else { throw systemFailure("cannot stat") }
        guard fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) == 0,
            Glibc.listen(fd, SOMAXCONN) == 0
        else { throw systemFailure("cannot listen on") }
        var pipeFDs: [Int32] = [0, 0]
        guard pipe(&pipeFDs) == 0 else { throw systemFailure("cannot create the wake-up pipe for") }
        for pipeFD in pipeFDs {
            _ = fcntl(pipeFD, F_SETFD, FD_CLOEXEC)
        }
        let listener = Listener(
            fd: fd, wakeRead: pipeFDs[0], wakeWrite: pipeFDs[1],
            device: status.st_dev, inode: status.st_ino,
            loopFinished: DispatchSemaphore(value: 0),
            connections: ConnectionRegistry(limit: limits.maxClients))
        let loop = AcceptLoop(
            listenFD: fd, wakeFD: listener.wakeRead, registry: listener.connections,
            limits: limits, bridge: bridge)
        let finished = listener.loopFinished
        DetachedThread.start(name: "c77-control-accept") {
            loop.run()
            finished.signal()
        }
        return listener
    }

    private func resolveGroup() throws(ControlServerError) -> gid_t? {
        guard let group else { return nil }
        guard let id = UserDatabase.groupID(named: group) else {
            throw failure(.unknownGroup, "unknown group \(group) for socket \(path)")
        }
        return id
    }

    private func checkDirectory() throws(ControlServerError) {
        let directory = path.parentDirectory
        var status = stat()
        guard stat(directory.isEmpty ? "." : directory, &status) == 0 else {
            if errno == ENOENT {
                throw failure(.directoryMissing, "directory \(directory) for socket \(path) does not exist (under systemd, RuntimeDirectory= creates it)")
            }
            throw systemFailure("cannot reach the directory of")
        }
    }

    /// Removes a socket file nobody listens on; refuses anything else at the path.
    private func removeStaleSocket() throws(ControlServerError) {
        var status = stat()
        guard lstat(path, &status) == 0 else {
            if errno == ENOENT { return }
            throw systemFailure("cannot stat")
        }
        guard status.st_mode & S_IFMT == S_IFSOCK else {
            throw failure(.notASocket, "\(path) exists and is not a socket; refusing to replace it")
        }
        switch UnixSocket.probe(path) {
        case 0:
            throw failure(.addressInUse, "another process is listening on \(path) (is c77-secure-dbd already running?)")
        case ECONNREFUSED:
            guard unlink(path) == 0 || errno == ENOENT else { throw systemFailure("cannot remove the stale socket") }
        case let code:
            throw failure(.systemCallFailed, "cannot tell whether \(path) is in use: \(UnixSocket.describe(code))")
        }
    }

    private func failure(_ code: ControlServerError.Code, _ message: String) -> ControlServerError {
        ControlServerError(code, path: path, message: message)
    }

    /// An error for the system call that just failed, e.g. "cannot bind /run/x.sock: Permission denied".
    private func systemFailure(_ what: String) -> ControlServerError {
        failure(.systemCallFailed, "\(what) \(path): \(UnixSocket.describe(errno))")
    }
}
