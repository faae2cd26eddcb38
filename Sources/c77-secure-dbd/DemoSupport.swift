import EssentialsSupport
import FoundationEssentials
import Dispatch
import Glibc
import Synchronization
import ThrowawayCluster

/// Where the demo finds its sibling binary and the repository's extension files.
struct DemoBinaries {
    let daemonPath: String
    let ctlPath: String
    let extensionDirectory: String?

    static func locate() throws -> DemoBinaries {
        let executable = URL(fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            ?? CommandLine.arguments[0]).standardizedFileURL
        let binDirectory = executable.deletingLastPathComponent()
        let ctl = binDirectory.appendingPathComponent("c77-secure-dbctl").path
        guard FileManager.default.isExecutableFile(atPath: ctl) else {
            throw DemoError("c77-secure-dbctl not found next to \(executable.path); build both (swift build)")
        }
        return DemoBinaries(daemonPath: executable.path, ctlPath: ctl, extensionDirectory: findExtensionDirectory(from: binDirectory))
    }

    /// The repository's `extension/` folder, searched upwards from the binary and the working directory.
    private static func findExtensionDirectory(from start: URL) -> String? {
        let candidates = [start, URL(fileURLWithPath: FileManager.default.currentDirectoryPath)]
        for candidate in candidates {
            var directory = candidate
            while directory.path != "/" {
                let path = directory.appendingPathComponent("extension").path
                if FileManager.default.fileExists(atPath: path + "/c77_secure_db.control") { return path }
                directory = directory.deletingLastPathComponent()
            }
        }
        return nil
    }

    func startDaemon(configPath: String, logPath: String) throws -> ChildProcess {
        var environment = ProcessInfo.processInfo.environment
        environment["NOTIFY_SOCKET"] = nil
        environment["JOURNAL_STREAM"] = nil
        return try ChildProcess(daemonPath, ["run", "--config", configPath], environment: environment, output: logPath, error: .sameAsOutput)
    }

    /// Runs `c77-secure-dbctl` with `arguments` and returns what it printed.
    func ctl(_ arguments: [String]) throws -> String {
        let result = try ChildProcess.run(ctlPath, arguments, environment: ProcessInfo.processInfo.environment,
                                          scratch: FileManager.default.temporaryDirectory.path)
        return result.output + result.error
    }
}

/// Builds and installs the extensions from the checkout's extension/ folder (PGXS `make
/// install`, which skips what is up to date), or checks that they are installed already.
enum ExtensionInstaller {
    static func ensureInstalled(extensionDirectory: String?) throws {
        guard let source = extensionDirectory else {
            let sharedir = try run("pg_config", ["--sharedir"]).output.trimmingWhitespace() + "/extension"
            guard FileManager.default.fileExists(atPath: sharedir + "/c77_secure_db.control") else {
                throw DemoError("the c77_secure_db extension is not installed and no extension/ folder was found; run `make -C extension install`")
            }
            detail("using the installed extension in \(sharedir)")
            return
        }
        let make = try run("make", ["-s", "-C", source, "install"])
        guard make.status == 0 else {
            throw DemoError("`make -C \(source) install` failed (run `sudo make -C extension install` once):\n\(make.output)")
        }
        detail("installed the extensions from \(source)")
    }

    private static func run(_ command: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let result = try ChildProcess.run("/usr/bin/env", [command] + arguments, environment: ProcessInfo.processInfo.environment,
                                          scratch: FileManager.default.temporaryDirectory.path)
        return (result.status, result.output + result.error)
    }
}

/// Stops the daemon and removes the cluster, once, at the end or on SIGINT/SIGTERM.
final class DemoCleanup: Sendable {
    private let cluster: ThrowawayCluster
    private let state = Mutex<(daemon: ChildProcess?, done: Bool, signalSources: [any DispatchSourceSignal])>((nil, false, []))

    init(cluster: ThrowawayCluster) {
        self.cluster = cluster
    }

    func setDaemon(_ process: ChildProcess) {
        state.withLock { $0.daemon = process }
    }

    func installSignalHandlers() {
        for signo in [SIGINT, SIGTERM] {
            signal(signo, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signo, queue: .global())
            source.setEventHandler { [self] in
                print("\n==> Interrupted: cleaning up")
                run(daemon: nil)
                exit(130)
            }
            source.resume()
            state.withLock { $0.signalSources.append(source) }
        }
    }

    func run(daemon explicit: ChildProcess?) {
        let (first, process): (Bool, ChildProcess?) = state.withLock { state in
            defer { state.done = true }
            return (!state.done, explicit ?? state.daemon)
        }
        guard first else { return }
        if let process, process.exitStatus() == nil {
            process.terminate()
            _ = process.waitForExit()
        }
        cluster.destroy()
    }
}
