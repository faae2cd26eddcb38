import Foundation
import LocalReceivers
import Systemd
import Testing

/// sd_notify against a real datagram socket standing in for systemd's NOTIFY_SOCKET.
@Suite(.serialized) struct SystemdNotifierTests {
    func withNotifySocket(_ path: String, _ body: (DatagramListener) throws -> Void) throws {
        let listener = try DatagramListener(path: path)
        setenv("NOTIFY_SOCKET", path, 1)
        defer { unsetenv("NOTIFY_SOCKET") }
        try body(listener)
    }

    func receive(_ listener: DatagramListener) -> String? {
        listener.receive(timeout: .seconds(2)).map { String(decoding: $0, as: UTF8.self) }
    }

    @Test func statesArriveOnTheSocket() throws {
        try withNotifySocket("/tmp/c77-notify-\(getpid()).sock") { listener in
            let notifier = SystemdNotifier()
            #expect(notifier.isUnderSystemd)
            #expect(notifier.ready())
            #expect(receive(listener) == "READY=1")
            #expect(notifier.status("Verifying shop.orders 45%"))
            #expect(receive(listener) == "STATUS=Verifying shop.orders 45%")
            #expect(notifier.watchdog())
            #expect(receive(listener) == "WATCHDOG=1")
            #expect(notifier.reloading())
            let reloading = receive(listener) ?? ""
            #expect(reloading.hasPrefix("RELOADING=1\nMONOTONIC_USEC="))
            #expect(notifier.stopping())
            #expect(receive(listener) == "STOPPING=1")
        }
    }

    @Test func abstractSocketsWork() throws {
        try withNotifySocket("@c77-notify-\(getpid())") { listener in
            #expect(SystemdNotifier().ready())
            #expect(receive(listener) == "READY=1")
        }
    }

    @Test func withoutNotifySocketNothingIsSent() {
        unsetenv("NOTIFY_SOCKET")
        #expect(!SystemdNotifier().isUnderSystemd)
        #expect(!SystemdNotifier().ready())
    }

    @Test func watchdogIntervalIsHalfOfWatchdogUsec() {
        setenv("WATCHDOG_USEC", "4000000", 1)
        defer { unsetenv("WATCHDOG_USEC") }
        #expect(SystemdNotifier().watchdogInterval == .seconds(2))
        setenv("WATCHDOG_PID", "1", 1)
        defer { unsetenv("WATCHDOG_PID") }
        #expect(SystemdNotifier().watchdogInterval == nil, "the watchdog is for another process")
    }
}
