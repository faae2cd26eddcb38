import FoundationEssentials
import Glibc

/// A file opened for reading at any offset (FoundationEssentials has no `FileHandle`).
final class ReadableFile {
    private let descriptor: Int32
    private let path: String

    /// Opens `path`; nil when it cannot be opened (missing, unreadable).
    init?(path: String) {
        descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        self.path = path
    }

    deinit {
        close(descriptor)
    }

    /// The file's size in bytes.
    func size() throws -> Int {
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw failure("fstat") }
        return Int(status.st_size)
    }

    /// The bytes from `offset` to the end of the file.
    func read(from offset: Int) throws -> Data {
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        var position = off_t(offset)
        while true {
            let count = buffer.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, $0.count, position) }
            if count == 0 { return data }
            if count < 0 {
                guard errno == EINTR else { throw failure("read") }
                continue
            }
            data.append(contentsOf: buffer[..<count])
            position += off_t(count)
        }
    }

    private func failure(_ operation: String) -> DigestLog.Failure {
        DigestLog.Failure(description: "\(path): \(operation): \(String(cString: strerror(errno)))")
    }
}
