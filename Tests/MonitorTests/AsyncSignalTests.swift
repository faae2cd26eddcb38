import Testing
@testable import Monitor

@Suite struct AsyncSignalTests {
    @Test func aFireBeforeTheWaitIsNotLost() async {
        let signal = AsyncSignal()
        signal.fire()
        #expect(await signal.wait())
    }

    @Test func waitingUntilADeadlineTimesOut() async {
        let signal = AsyncSignal()
        let fired = await signal.wait(until: .now.advanced(by: .milliseconds(20)))
        #expect(!fired)
    }

    @Test func aFireWakesAWaiter() async {
        let signal = AsyncSignal()
        async let fired = signal.wait(until: .now.advanced(by: .seconds(10)))
        try? await Task.sleep(for: .milliseconds(20))
        signal.fire()
        #expect(await fired)
    }

    @Test func cancellationEndsTheWait() async {
        let signal = AsyncSignal()
        let task = Task { await signal.wait() }
        try? await Task.sleep(for: .milliseconds(20))
        task.cancel()
        #expect(await task.value == false)
    }
}
