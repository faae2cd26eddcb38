import Glibc

/// Serves one client connection on its own thread: reads request lines, answers each with one
/// response line, and returns when the client leaves, misbehaves beyond repair, or idles too long.
/// The caller closes the descriptor.
struct ConnectionWorker: Sendable {
    let fd: Int32
    let limits: ControlServerLimits
    let bridge: HandlerBridge

    func run() {
        guard let peer = PeerCredentials(socket: fd) else {
            _ = UnixSocket.sendAll(fd, ControlResponse.failure("cannot read the peer's credentials").line)
            return
        }
        UnixSocket.setSendTimeout(fd, limits.idleTimeout)
        let decoder = RequestLineDecoder(maxDepth: limits.maxNestingDepth)
        var framer = LineFramer(maxLineLength: limits.maxLineLength)
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            switch framer.next() {
            case .line(let line):
                if line.allSatisfy(Self.isJSONWhitespace) { continue }
                let response: ControlResponse
                do {
                    response = bridge.respond(to: try decoder.decode(line), from: peer)
                } catch {
                    response = error.response
                }
                guard UnixSocket.sendAll(fd, response.line) else { return }
            case .tooLong:
                _ = UnixSocket.sendAll(fd, ControlResponse.failure("request too long").line)
                return
            case .needMoreData:
                guard UnixSocket.wait(fd, for: Int16(POLLIN), timeout: limits.idleTimeout) != 0 else { return }
                let count = read(fd, &chunk, chunk.count)
                if count > 0 {
                    framer.append(chunk[..<count])
                } else if count == 0 || errno != EINTR {
                    return
                }
            }
        }
    }

    private static func isJSONWhitespace(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\r")
    }
}
