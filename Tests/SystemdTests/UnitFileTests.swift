import Foundation
import Testing

/// The shipped unit: the directives the daemon relies on, its hardening score, and a clean
/// `systemd-analyze verify` (the sandbox itself cannot run without systemd as PID 1).
@Suite struct UnitFileTests {
    static let unitPath: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.appendingPathComponent("systemd/c77-secure-dbd.service").path
    }()

    func run(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/systemd-analyze")
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile(), stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: stdout, as: UTF8.self), String(decoding: stderr, as: UTF8.self))
    }

    @Test func theUnitKeepsWhatTheDaemonNeeds() throws {
        let unit = try String(contentsOfFile: Self.unitPath, encoding: .utf8)
        let lines = Set(unit.split(separator: "\n").map(String.init).filter { !$0.hasPrefix("#") })
        let settings = lines.joined(separator: "\n")
        for directive in ["Type=notify", "WatchdogSec=30s", "Restart=on-failure", "RestartPreventExitStatus=78",
                          "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6", "RuntimeDirectory=c77-secure-db",
                          "StateDirectory=c77-secure-db", "ConfigurationDirectory=c77-secure-db", "ProtectSystem=strict",
                          "ExecReload=/bin/kill -HUP $MAINPID"] {
            #expect(lines.contains(directive), "missing \(directive)")
        }
        #expect(!settings.contains("PrivateNetwork="), "the daemon needs the network")
        #expect(!settings.contains("IPAddressDeny="), "the daemon needs the network")
        #expect(!settings.contains("ReadWritePaths="), "writes only to its state and runtime directories")
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-analyze")))
    func exposureIsAtMostOnePointTwo() throws {
        let result = try run(["security", "--offline=true", Self.unitPath])
        let line = try #require(result.stdout.split(separator: "\n").last { $0.contains("Overall exposure level") })
        let score = try #require(line.split(separator: ":").last?.split(separator: " ").first.flatMap { Double($0) })
        #expect(score <= 1.2, "\(line)")
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-analyze")))
    func verifyIsClean() throws {
        let unit = try String(contentsOfFile: Self.unitPath, encoding: .utf8)
            .replacingOccurrences(of: "/usr/local/bin/c77-secure-dbd", with: "/bin/true")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("c77unit-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let copy = directory.appendingPathComponent("c77-secure-dbd.service").path
        try unit.write(toFile: copy, atomically: true, encoding: .utf8)
        let result = try run(["verify", "--man=no", copy])
        #expect(result.status == 0)
        #expect(result.stderr.isEmpty, "\(result.stderr)")
    }
}
