import Foundation
import Testing
import ThrowawayCluster

@Suite struct ThrowawayClusterTests {
    @Test func startsQueriesAndCleansUp() throws {
        let cluster = try ThrowawayCluster.start(settings: ["cluster_name": "it's quoted"])
        defer { cluster.destroy() }
        #expect(cluster.directory.hasPrefix("/tmp/c77pg."))
        #expect(try cluster.psql("SELECT 1 + 1") == "2")
        #expect(try cluster.psql("SHOW cluster_name") == "it's quoted")
        try cluster.createDatabase("other db")
        #expect(try cluster.psql("SELECT current_database()", database: "other db") == "other db")
        #expect(cluster.conninfo().contains("port=\(cluster.port)"))

        let error = #expect(throws: ThrowawayClusterError.self) { try cluster.psql("SELECT * FROM nope") }
        #expect(error?.output.contains("relation \"nope\" does not exist") == true)

        cluster.destroy()
        cluster.destroy()
        #expect(!FileManager.default.fileExists(atPath: cluster.directory))
    }
}
