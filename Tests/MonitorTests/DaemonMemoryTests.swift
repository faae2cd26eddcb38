import DigestLog
import Foundation
import Glibc
@testable import Monitor
import Synchronization
import Testing

/// The digest log's lock in the daemon: a reader (the control socket's `digest_export`, the
/// audit job's witness look-ups) never sees an entry half written.
struct DaemonMemoryTests {
    @Test func aReadWaitsForAnAppendInProgress() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("c77-memory-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let log = DigestLog(stateDirectory: directory)
        let memory = DaemonMemory()
        let head = String(repeating: "a", count: 64)
        let first = try #require(try memory.appendToDigestLog { try log.append(auditHeadSeq: 1, auditHeadDigest: head, after: nil) })
        let size = try #require(try FileManager.default.attributesOfItem(atPath: log.path)[.size] as? NSNumber).int64Value

        let appending = DispatchSemaphore(value: 0), finished = DispatchSemaphore(value: 0)
        let read = Mutex<Result<Int, any Error>?>(nil)
        Thread.detachNewThread {
            appending.wait()
            let result = Result { try memory.readDigestLog { try log.exportPage(skipping: 0, limit: 10).export.entries.count } }
            read.withLock { $0 = result }
            finished.signal()
        }
        _ = try memory.appendToDigestLog {
            // Half an entry on disk, as a write in progress leaves it for a moment.
            let handle = try #require(FileHandle(forWritingAtPath: log.path))
            handle.seekToEndOfFile()
            handle.write(Data(#"{"seq":2,"recorded_at":"#.utf8))
            try handle.close()
            appending.signal()
            Thread.sleep(forTimeInterval: 0.3)
            #expect(truncate(log.path, off_t(size)) == 0)
            return try log.append(auditHeadSeq: 2, auditHeadDigest: head, after: first)
        }
        finished.wait()
        let entries = try #require(read.withLock { $0 })
        #expect(try entries.get() == 2, "the reader saw the log before or after the append, never during it")
    }
}
