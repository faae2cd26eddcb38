import FoundationEssentials
import Glibc
import Synchronization

/// A program started with `posix_spawn`: Foundation's `Process` without Foundation, and
/// without `Process`'s wait for every inheritor of the descriptors it hands the child
/// (`pg_ctl start` leaves the postmaster holding them). The child starts with no signal
/// blocked and every signal at its default action, whatever the parent ignores or blocks.
package final class ChildProcess: Sendable {
    /// Where the child's standard error goes.
    package enum ErrorOutput: Sendable {
        case file(String)
        case sameAsOutput
    }

    /// A program that could not be started.
    package struct SpawnError: Error, CustomStringConvertible {
        package var description: String
    }

    package let pid: pid_t
    private let status = Mutex<Int32?>(nil)

    /// Starts `executable` (a path) with standard input from `/dev/null` and standard output
    /// appended to the file `output` (created if needed).
    package init(_ executable: String, _ arguments: [String], environment: [String: String],
                 output: String, error: ErrorOutput) throws(SpawnError) {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        switch error {
        case .file(let path): posix_spawn_file_actions_addopen(&actions, 2, path, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        case .sameAsOutput: posix_spawn_file_actions_adddup2(&actions, 1, 2)
        }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var signals = sigset_t()
        sigemptyset(&signals)
        posix_spawnattr_setsigmask(&attributes, &signals)
        sigfillset(&signals)
        posix_spawnattr_setsigdefault(&attributes, &signals)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var pid = pid_t()
        let spawned = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        guard spawned == 0 else {
            throw SpawnError(description: "cannot start \(executable): \(String(cString: strerror(spawned)))")
        }
        self.pid = pid
    }

    /// The exit status (128 + the signal for a killed child), or nil while it runs.
    package func exitStatus() -> Int32? {
        reap(options: WNOHANG)
    }

    /// Waits for the child to end and returns its exit status.
    package func waitForExit() -> Int32 {
        reap(options: 0) ?? -1
    }

    /// Sends SIGTERM.
    package func terminate() {
        if exitStatus() == nil { kill(pid, SIGTERM) }
    }

    private func reap(options: Int32) -> Int32? {
        status.withLock { status in
            guard status == nil else { return status }
            var raw: Int32 = 0
            var reaped = waitpid(pid, &raw, options)
            while reaped < 0 && errno == EINTR { reaped = waitpid(pid, &raw, options) }
            guard reaped == pid else { return reaped < 0 ? -1 : nil }
            status = raw & 0x7f == 0 ? (raw >> 8) & 0xff : 128 + (raw & 0x7f)
            return status
        }
    }

    /// Runs a program to completion, its standard output and error captured through files in
    /// `scratch` (removed afterwards).
    package static func run(_ executable: String, _ arguments: [String], environment: [String: String],
                            scratch: String) throws(SpawnError) -> (status: Int32, output: String, error: String) {
        let base = scratch + "/run-\(UUID().uuidString)"
        let outPath = base + ".out", errPath = base + ".err"
        defer {
            unlink(outPath)
            unlink(errPath)
        }
        let status = try ChildProcess(executable, arguments, environment: environment, output: outPath, error: .file(errPath)).waitForExit()
        let output = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
        let errorOutput = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
        return (status, output, errorOutput)
    }
}
