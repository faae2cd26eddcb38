import Glibc
import Synchronization

/// The open client connections, so that the server can bound their number and shut them down.
///
/// A connection's thread owns its descriptor: it leaves the registry before closing it, and the
/// registry only ever calls `shutdown` on descriptors still registered, under its lock, so a
/// descriptor number is never touched after it was closed and reused.
final class ConnectionRegistry: Sendable {
    private struct State {
        var open: [Int: Int32] = [:]
        var nextID = 0
    }

    private let limit: Int
    private let state = Mutex(State())

    init(limit: Int) {
        self.limit = limit
    }

    /// Registers `fd` and returns its ticket, or `nil` when the limit is reached.
    func admit(_ fd: Int32) -> Int? {
        state.withLock { state in
            guard state.open.count < limit else { return nil }
            let id = state.nextID
            state.nextID += 1
            state.open[id] = fd
            return id
        }
    }

    /// Forgets the connection with ticket `id`; its owner closes the descriptor afterwards.
    func remove(_ id: Int) {
        state.withLock { _ = $0.open.removeValue(forKey: id) }
    }

    /// Shuts down every open connection, which wakes their threads; they then close their descriptors.
    func shutdownAll() {
        state.withLock { state in
            for fd in state.open.values {
                shutdown(fd, Int32(SHUT_RDWR))
            }
        }
    }
}
