import CSystemd
import FoundationEssentials
import Glibc

/// Tells systemd what the daemon is doing (`sd_notify(3)`): READY=1, STATUS=…, WATCHDOG=1,
/// RELOADING=1 and STOPPING=1. Without NOTIFY_SOCKET (not started by systemd) every call is
/// a harmless no-op.
public struct SystemdNotifier: Sendable {
    public init() {}

    /// Whether systemd asked for notifications (NOTIFY_SOCKET is set).
    public var isUnderSystemd: Bool { ProcessInfo.processInfo.environment["NOTIFY_SOCKET"] != nil }

    /// How often to send WATCHDOG=1: half of WATCHDOG_USEC, as sd_watchdog_enabled(3)
    /// advises; nil when the watchdog is off (or meant for another process).
    public var watchdogInterval: Duration? {
        var microseconds: UInt64 = 0
        guard sd_watchdog_enabled(0, &microseconds) > 0, microseconds > 0 else { return nil }
        return .microseconds(Int64(microseconds / 2))
    }

    /// Sends raw `KEY=value` assignments, one per line. Returns whether systemd got them.
    @discardableResult
    public func send(_ assignments: String) -> Bool {
        sd_notify(0, assignments) > 0
    }

    /// Start-up is complete.
    @discardableResult
    public func ready() -> Bool { send("READY=1") }

    /// A configuration reload begins; follow with `ready()` when it is done. Includes
    /// MONOTONIC_USEC as Type=notify-reload requires.
    @discardableResult
    public func reloading() -> Bool {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let microseconds = UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1000
        return send("RELOADING=1\nMONOTONIC_USEC=\(microseconds)")
    }

    /// Shutdown begins.
    @discardableResult
    public func stopping() -> Bool { send("STOPPING=1") }

    /// A one-line status shown by `systemctl status`.
    @discardableResult
    public func status(_ text: String) -> Bool {
        send("STATUS=" + text.replacing("\n", with: " "))
    }

    /// Keeps the watchdog from restarting the service.
    @discardableResult
    public func watchdog() -> Bool { send("WATCHDOG=1") }
}
