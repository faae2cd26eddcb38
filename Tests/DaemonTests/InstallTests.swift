import Foundation
import Testing

/// `make install` into a staging root (DESTDIR) lays out the tree an operator expects, never
/// overwrites an existing configuration, and `make uninstall` keeps configuration.
@Suite struct InstallTests {
    static let repository: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    func make(_ arguments: [String]) throws -> (status: Int32, output: String) {
        try DaemonHarness.run("/usr/bin/make", ["-s", "-C", Self.repository] + arguments)
    }

    @Test func installsIntoAStagingRootAndUninstallsKeepingConfiguration() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("c77root-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let common = ["DESTDIR=\(root)", "PREFIX=/opt/c77", "BINARIES=\(DaemonHarness.binDirectory)"]
        let installed = try make(["install"] + common)
        #expect(installed.status == 0, "\(installed.output)")
        let sharedir = try DaemonHarness.run("/usr/bin/env", ["pg_config", "--sharedir"]).output.trimmingCharacters(in: .whitespacesAndNewlines)
        for path in ["/opt/c77/bin/c77-secure-dbd", "/opt/c77/bin/c77-secure-dbctl", "/etc/systemd/system/c77-secure-dbd.service",
                     "/usr/lib/sysusers.d/c77-secure-db.conf", "/etc/c77-secure-db/c77-secure-dbd.ini",
                     "\(sharedir)/extension/c77_secure_db.control", "\(sharedir)/extension/c77_secure_db--2.0.sql",
                     "\(sharedir)/extension/c77_rbac.control", "\(sharedir)/extension/c77_rbac--1.0.sql"] {
            #expect(FileManager.default.fileExists(atPath: root + path), "missing \(path)")
        }
        let unit = try String(contentsOfFile: root + "/etc/systemd/system/c77-secure-dbd.service", encoding: .utf8)
        #expect(unit.contains("ExecStart=/opt/c77/bin/c77-secure-dbd --config /etc/c77-secure-db/c77-secure-dbd.ini"))
        #expect(FileManager.default.isExecutableFile(atPath: root + "/opt/c77/bin/c77-secure-dbd"))

        let config = root + "/etc/c77-secure-db/c77-secure-dbd.ini"
        try "[database]\nconninfo = dbname=mine\n".write(toFile: config, atomically: true, encoding: .utf8)
        #expect(try make(["install"] + common).status == 0)
        #expect(try String(contentsOfFile: config, encoding: .utf8) == "[database]\nconninfo = dbname=mine\n", "an existing configuration is kept")

        #expect(try make(["uninstall"] + common).status == 0)
        #expect(!FileManager.default.fileExists(atPath: root + "/opt/c77/bin/c77-secure-dbd"))
        #expect(!FileManager.default.fileExists(atPath: root + "/etc/systemd/system/c77-secure-dbd.service"))
        #expect(!FileManager.default.fileExists(atPath: root + "\(sharedir)/extension/c77_secure_db.control"))
        #expect(FileManager.default.fileExists(atPath: config), "uninstall keeps the configuration")
    }
}
