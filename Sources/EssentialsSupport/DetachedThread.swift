import Glibc

/// Runs closures on detached, named POSIX threads: what the daemon used Foundation's `Thread`
/// for, without linking Foundation (its targets import FoundationEssentials only).
package enum DetachedThread {
    /// Starts a detached thread named `name` (the kernel keeps 15 bytes of it) that runs `body`.
    package static func start(name: String, _ body: @escaping @Sendable () -> Void) {
        let context = Unmanaged.passRetained(Work(name: name, body: body)).toOpaque()
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        var thread = pthread_t()
        let created = pthread_create(&thread, &attributes, threadEntry, context)
        pthread_attr_destroy(&attributes)
        precondition(created == 0, "pthread_create failed: \(String(cString: strerror(created)))")
    }

    /// What a new thread runs: names itself, then runs the work it was handed.
    private static let threadEntry: @convention(c) (UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? = { context in
        let work = Unmanaged<Work>.fromOpaque(context!).takeRetainedValue()
        nameCurrentThread(work.name)
        work.body()
        return nil
    }

    /// Names the calling thread the way `pthread_setname_np` does (which Swift does not see
    /// without `_GNU_SOURCE`): through `/proc/thread-self/comm`.
    private static func nameCurrentThread(_ name: String) {
        let descriptor = open("/proc/thread-self/comm", O_WRONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return }
        let bytes = Array(name.utf8.prefix(15))
        _ = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        close(descriptor)
    }

    private final class Work {
        let name: String
        let body: @Sendable () -> Void

        init(name: String, body: @escaping @Sendable () -> Void) {
            self.name = name
            self.body = body
        }
    }
}
