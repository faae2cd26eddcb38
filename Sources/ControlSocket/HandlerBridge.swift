import Dispatch
import Synchronization

/// Runs the server's async handler from a connection thread and waits for its answer there,
/// so that blocking stays on the connection's own thread and off the cooperative pool.
struct HandlerBridge: Sendable {
    let handler: @Sendable (ControlRequest, PeerCredentials) async -> ControlResponse

    func respond(to request: ControlRequest, from peer: PeerCredentials) -> ControlResponse {
        let answer = Answer()
        Task {
            answer.deliver(await handler(request, peer))
        }
        return answer.wait()
    }

    /// A one-shot slot the task fills and the thread waits on.
    private final class Answer: Sendable {
        private let response = Mutex<ControlResponse?>(nil)
        private let ready = DispatchSemaphore(value: 0)

        func deliver(_ value: ControlResponse) {
            response.withLock { $0 = value }
            ready.signal()
        }

        func wait() -> ControlResponse {
            ready.wait()
            return response.withLock { $0 } ?? .failure("internal error: no response")
        }
    }
}
