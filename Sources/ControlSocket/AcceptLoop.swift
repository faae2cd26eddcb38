import EssentialsSupport
import FoundationEssentials
import Glibc

/// The server's accept loop, run on a dedicated thread: waits with `poll` on the listening socket
/// and a wake-up pipe, and gives each accepted client a thread of its own (``ConnectionWorker``).
struct AcceptLoop: Sendable {
    /// The listening socket, non-blocking.
    let listenFD: Int32
    /// The read end of the wake-up pipe; a byte there ends the loop.
    let wakeFD: Int32
    let registry: ConnectionRegistry
    let limits: ControlServerLimits
    let bridge: HandlerBridge

    /// Runs until a byte arrives on the wake-up pipe.
    func run() {
        var fds = [
            pollfd(fd: listenFD, events: Int16(POLLIN), revents: 0),
            pollfd(fd: wakeFD, events: Int16(POLLIN), revents: 0),
        ]
        while true {
            if poll(&fds, nfds_t(fds.count), -1) < 0 {
                continue  // EINTR; poll fails otherwise only on bad arguments.
            }
            if fds[1].revents != 0 { return }
            if fds[0].revents != 0 && !acceptPending() {
                // Out of descriptors: the listening socket stays readable, so back off instead of spinning.
                if UnixSocket.wait(wakeFD, for: Int16(POLLIN), timeout: .milliseconds(100)) != 0 { return }
            }
        }
    }

    /// Accepts every waiting client; `false` when the process or system is out of descriptors.
    private func acceptPending() -> Bool {
        while true {
            // Glibc's module hides accept4; close-on-exec follows a moment later.
            let fd = accept(listenFD, nil, nil)
            if fd >= 0 {
                _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
                serve(fd)
                continue
            }
            switch errno {
            case EINTR, ECONNABORTED: continue
            case EMFILE, ENFILE, ENOBUFS, ENOMEM: return false
            default: return true  // EAGAIN: nobody left waiting.
            }
        }
    }

    private func serve(_ fd: Int32) {
        guard let ticket = registry.admit(fd) else {
            _ = UnixSocket.sendAll(fd, ControlResponse.failure("too many clients").line, flags: Int32(MSG_DONTWAIT))
            close(fd)
            return
        }
        let worker = ConnectionWorker(fd: fd, limits: limits, bridge: bridge)
        let registry = self.registry
        DetachedThread.start(name: "c77-control-client") {
            worker.run()
            registry.remove(ticket)
            close(fd)
        }
    }
}
