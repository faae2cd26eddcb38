import Foundation
import Glibc
import Synchronization

/// The server side of the control protocol: newline-delimited JSON over a Unix stream socket.
///
/// Socket I/O happens on one dedicated thread that polls the listening socket, every client
/// and a wake-up pipe, so nothing blocks Swift's cooperative pool. Complete request lines go
/// to `run()`, which calls the handler (concurrently across clients, in order per client)
/// inside the caller's task tree; answers go back to the I/O thread to be written.
///
/// Garbage never stops the server: a line that is not a JSON object with a string `cmd` gets
/// `{"ok":false,"error":"malformed request: …"}` and the connection stays usable; a line over
/// 64 KiB gets `request too long` and the connection is closed; idle connections close after
/// 30 s; beyond 64 clients, new ones are told so and closed.
public final class ControlServer: Sendable {
    /// Answers one request from one peer.
    public typealias Handler = @Sendable (ControlRequest, PeerCredentials) async -> ControlResponse

    /// A socket that could not be set up; the message names the path.
    public struct SetupError: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    public let path: String
    private let mode: mode_t
    private let group: String?
    private let handler: Handler
    private let maximumLineBytes = 64 * 1024
    private let maximumClients = 64
    private let idleTimeout: Duration = .seconds(30)

    private struct Incoming: Sendable {
        var client: Int
        var peer: PeerCredentials
        var line: Data
    }

    private struct Shared: Sendable {
        var listenFD: Int32 = -1
        var wakeRead: Int32 = -1
        var wakeWrite: Int32 = -1
        var outgoing: [Int: [UInt8]] = [:]
        var stopped = false
    }

    private let shared = Mutex(Shared())
    private let requests: AsyncStream<Incoming>
    private let continuation: AsyncStream<Incoming>.Continuation
    private let finished = Mutex(false)

    public init(path: String, mode: mode_t, group: String?, handler: @escaping Handler) {
        self.path = path
        self.mode = mode
        self.group = group
        self.handler = handler
        (requests, continuation) = AsyncStream.makeStream(of: Incoming.self)
    }

    /// Binds and listens. A stale socket file (nobody listening) is replaced; a live one is
    /// refused, so two daemons never share a socket.
    public func start() throws(SetupError) {
        if FileManager.default.fileExists(atPath: path) {
            var info = stat()
            guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFSOCK else {
                throw SetupError(description: "\(path) exists and is not a socket")
            }
            if (try? ControlClient.send(ControlRequest(cmd: "version"), socketPath: path, timeout: .seconds(1))) != nil
                || isListening(path) {
                throw SetupError(description: "another daemon is already listening on \(path)")
            }
            unlink(path)
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw SetupError(description: "socket: \(errnoText())") }
        let previousMask = umask(0o177)
        let bound = withUnixAddress(path) { bind(fd, $0, $1) }
        umask(previousMask)
        guard let bound else {
            close(fd)
            throw SetupError(description: "socket path too long (max 107 bytes): \(path)")
        }
        guard bound == 0 else {
            let message = errnoText()
            close(fd)
            throw SetupError(description: "cannot bind \(path): \(message)")
        }
        do {
            try applyOwnership()
        } catch {
            close(fd)
            unlink(path)
            throw error
        }
        guard listen(fd, 64) == 0 else {
            let message = errnoText()
            close(fd)
            unlink(path)
            throw SetupError(description: "cannot listen on \(path): \(message)")
        }
        var pipeFDs: [Int32] = [0, 0]
        pipe(&pipeFDs)
        pipeFDs.forEach(makeNonBlocking)
        let thread = Thread { [self] in ioLoop() }
        thread.name = "c77-control-socket"
        shared.withLock {
            $0.listenFD = fd
            $0.wakeRead = pipeFDs[0]
            $0.wakeWrite = pipeFDs[1]
        }
        thread.start()
    }

    /// Serves requests until `stop()`; run it inside the daemon's task group.
    public func run() async {
        await withDiscardingTaskGroup { group in
            for await incoming in requests {
                group.addTask {
                    let response: ControlResponse
                    switch ControlRequest.parse(incoming.line) {
                    case .success(let request): response = await self.handler(request, incoming.peer)
                    case .failure(let error): response = .failure(error.description)
                    }
                    self.send(response.line, to: incoming.client)
                }
            }
        }
    }

    /// Stops listening, closes every connection and removes the socket file. Idempotent.
    public func stop() {
        let wake = shared.withLock { state -> Int32? in
            guard !state.stopped else { return nil }
            state.stopped = true
            return state.wakeWrite
        }
        guard let wake else { return }
        var byte: UInt8 = 1
        write(wake, &byte, 1)
        continuation.finish()
        // Wait for the I/O thread to close everything (bounded: it wakes at once).
        for _ in 0..<400 where !finished.withLock({ $0 }) { usleep(5000) }
    }

    private func isListening(_ path: String) -> Bool {
        let probe = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        defer { close(probe) }
        return withUnixAddress(path) { connect(probe, $0, $1) } == 0
    }

    private func applyOwnership() throws(SetupError) {
        guard chmod(path, mode) == 0 else { throw SetupError(description: "cannot chmod \(path): \(errnoText())") }
        guard let group else { return }
        guard let entry = getgrnam(group) else { throw SetupError(description: "unknown socket_group \(group)") }
        guard chown(path, uid_t.max, entry.pointee.gr_gid) == 0 else {
            throw SetupError(description: "cannot give \(path) to group \(group): \(errnoText())")
        }
    }

    private func send(_ line: String, to client: Int) {
        let wake = shared.withLock { state -> Int32? in
            guard !state.stopped else { return nil }
            state.outgoing[client, default: []].append(contentsOf: Array((line + "\n").utf8))
            return state.wakeWrite
        }
        if let wake {
            var byte: UInt8 = 1
            write(wake, &byte, 1)
        }
    }


    // MARK: - The I/O thread

    private func makeNonBlocking(_ fd: Int32) {
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
    }

    private struct Client {
        var fd: Int32
        var peer: PeerCredentials
        var input: [UInt8] = []
        var output: [UInt8] = []
        var awaitingAnswer = false
        var closeAfterWrite = false
        var lastActivity = ContinuousClock.now
    }

    private func ioLoop() {
        let (listenFD, wakeRead) = shared.withLock { ($0.listenFD, $0.wakeRead) }
        var clients: [Int: Client] = [:]
        var nextID = 0
        var buffer = [UInt8](repeating: 0, count: 65536)

        while !shared.withLock({ $0.stopped }) {
            // Take answers handed over by run().
            let outgoing = shared.withLock { state -> [Int: [UInt8]] in
                defer { state.outgoing = [:] }
                return state.outgoing
            }
            for (id, bytes) in outgoing where clients[id] != nil {
                clients[id]!.output.append(contentsOf: bytes)
                clients[id]!.awaitingAnswer = false
            }
            for id in Array(clients.keys) {
                nextLine(of: id, in: &clients)
            }

            var fds = [pollfd(fd: listenFD, events: Int16(POLLIN), revents: 0), pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)]
            let order = Array(clients.keys)
            for id in order {
                let client = clients[id]!
                var events = Int16(0)
                if !client.awaitingAnswer && !client.closeAfterWrite { events |= Int16(POLLIN) }
                if !client.output.isEmpty { events |= Int16(POLLOUT) }
                fds.append(pollfd(fd: client.fd, events: events, revents: 0))
            }
            let ready = poll(&fds, nfds_t(fds.count), 1000)
            if ready < 0, errno != EINTR { break }

            if fds[1].revents != 0 {
                while read(wakeRead, &buffer, buffer.count) > 0 {}
            }
            if fds[0].revents & Int16(POLLIN) != 0 {
                while true {
                    let fd = accept(listenFD, nil, nil)
                    guard fd >= 0 else { break }
                    makeNonBlocking(fd)
                    guard clients.count < maximumClients, let peer = PeerCredentials.of(socket: fd) else {
                        let line = Array((ControlResponse.failure("too many clients").line + "\n").utf8)
                        _ = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                        close(fd)
                        continue
                    }
                    clients[nextID] = Client(fd: fd, peer: peer)
                    nextID += 1
                }
            }
            for (index, id) in order.enumerated() {
                let revents = fds[index + 2].revents
                guard revents != 0, var client = clients[id] else { continue }
                var drop = false
                if revents & Int16(POLLIN) != 0 {
                    let count = read(client.fd, &buffer, buffer.count)
                    if count > 0 {
                        client.input.append(contentsOf: buffer[0..<count])
                        client.lastActivity = .now
                    } else if count == 0 || (errno != EAGAIN && errno != EINTR) {
                        drop = true
                    }
                } else if revents & Int16(POLLHUP | POLLERR | POLLNVAL) != 0, client.output.isEmpty {
                    drop = true
                }
                if !drop, revents & Int16(POLLOUT) != 0, !client.output.isEmpty {
                    let count = client.output.withUnsafeBytes { write(client.fd, $0.baseAddress, $0.count) }
                    if count > 0 {
                        client.output.removeFirst(count)
                        client.lastActivity = .now
                    } else if errno != EAGAIN && errno != EINTR {
                        drop = true
                    }
                    if client.output.isEmpty && client.closeAfterWrite { drop = true }
                }
                if drop {
                    close(client.fd)
                    clients[id] = nil
                } else {
                    clients[id] = client
                }
            }
            let now = ContinuousClock.now
            for (id, client) in clients where !client.awaitingAnswer && now - client.lastActivity > idleTimeout {
                close(client.fd)
                clients[id] = nil
            }
        }

        for client in clients.values { close(client.fd) }
        close(listenFD)
        unlink(path)
        let wakeWrite = shared.withLock { $0.wakeWrite }
        close(wakeRead)
        close(wakeWrite)
        finished.withLock { $0 = true }
    }

    /// Hands the client's next complete line to `run()` when it is not waiting for an answer.
    private func nextLine(of id: Int, in clients: inout [Int: Client]) {
        guard var client = clients[id], !client.awaitingAnswer, !client.closeAfterWrite else { return }
        if let newline = client.input.firstIndex(of: 10) {
            var line = Array(client.input[..<newline])
            client.input.removeFirst(newline + 1)
            if line.last == 13 { line.removeLast() }
            if line.count > maximumLineBytes {
                client.output.append(contentsOf: Array((ControlResponse.failure("request too long").line + "\n").utf8))
                client.closeAfterWrite = true
            } else if line.allSatisfy({ $0 == 32 || $0 == 9 }) {
                clients[id] = client
                return nextLine(of: id, in: &clients)
            } else {
                client.awaitingAnswer = true
                continuation.yield(Incoming(client: id, peer: client.peer, line: Data(line)))
            }
        } else if client.input.count > maximumLineBytes {
            client.output.append(contentsOf: Array((ControlResponse.failure("request too long").line + "\n").utf8))
            client.input = []
            client.closeAfterWrite = true
        }
        clients[id] = client
    }
}
