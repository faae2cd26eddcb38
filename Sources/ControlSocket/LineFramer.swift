/// Splits a byte stream into newline-terminated lines, refusing lines longer than a limit.
///
/// A value type with no I/O: the connection appends what it reads and takes lines out. A trailing
/// `\r` is dropped so that `CRLF` clients work too. A line's length excludes its terminator.
struct LineFramer: Sendable {
    /// What ``next()`` found.
    enum Output: Equatable, Sendable {
        /// A complete line, without its terminator.
        case line([UInt8])
        /// No complete line yet; append more bytes.
        case needMoreData
        /// The current line exceeds the limit; the stream cannot be resynchronized.
        case tooLong
    }

    /// The longest line accepted, in bytes.
    let maxLineLength: Int
    private var buffer: [UInt8] = []
    /// How much of `buffer` is known to contain no newline.
    private var scanned = 0

    init(maxLineLength: Int) {
        self.maxLineLength = maxLineLength
    }

    /// Whether bytes of an unterminated line are waiting.
    var hasPartialLine: Bool { !buffer.isEmpty }

    /// Adds bytes read from the stream.
    mutating func append(_ bytes: some Sequence<UInt8>) {
        buffer.append(contentsOf: bytes)
    }

    /// Takes the next complete line out of the buffer, if there is one.
    mutating func next() -> Output {
        guard let newline = buffer[scanned...].firstIndex(of: UInt8(ascii: "\n")) else {
            scanned = buffer.count
            return buffer.count > maxLineLength ? .tooLong : .needMoreData
        }
        var line = Array(buffer[..<newline])
        buffer.removeSubrange(...newline)
        scanned = 0
        if line.last == UInt8(ascii: "\r") { line.removeLast() }
        return line.count > maxLineLength ? .tooLong : .line(line)
    }
}
