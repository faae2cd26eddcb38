import Synchronization

/// A wake-up flag that one task awaits and any other code fires.
///
/// `fire()` before `wait()` is remembered, so a wake-up is never lost; several fires before
/// one wait count as one. `wait()` returns early, without consuming anything, when the
/// waiting task is cancelled.
final class AsyncSignal: Sendable {
    private struct State {
        var fired = false
        var waiter: CheckedContinuation<Bool, Never>?
    }

    private let state = Mutex(State())

    init() {}

    /// Wakes the waiter, or makes the next `wait()` return at once.
    func fire() {
        let waiter = state.withLock { state -> CheckedContinuation<Bool, Never>? in
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.fired = true
            return nil
        }
        waiter?.resume(returning: true)
    }

    /// Waits until fired (consuming the signal) or until the current task is cancelled.
    /// - Returns: `true` when a fire was consumed, `false` on cancellation.
    @discardableResult
    func wait() async -> Bool {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                let immediate = state.withLock { state -> Bool? in
                    if state.fired {
                        state.fired = false
                        return true
                    }
                    if Task.isCancelled { return false }
                    state.waiter = continuation
                    return nil
                }
                if let immediate { continuation.resume(returning: immediate) }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Bool, Never>? in
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume(returning: false)
        }
    }

    /// Waits until fired or until `deadline`, whichever comes first.
    /// - Returns: `true` when the signal fired, `false` on the deadline or cancellation.
    func wait(until deadline: ContinuousClock.Instant) async -> Bool {
        await withTaskGroup(of: Bool.self) { group in
            group.addTask { await self.wait() }
            group.addTask {
                try? await Task.sleep(until: deadline, clock: .continuous)
                return false
            }
            var fired = await group.next() ?? false
            group.cancelAll()
            for await result in group { fired = fired || result }
            return fired
        }
    }
}
