/// The status line and header fields of an HTTP/1.x response (the body is not read).
public struct HTTPResponseHead: Sendable, Equatable {
    /// The status code, e.g. `200`.
    public var status: Int
    /// Header fields in the order received, names as sent.
    public var headers: [(name: String, value: String)]

    public init(status: Int, headers: [(name: String, value: String)] = []) {
        self.status = status
        self.headers = headers
    }

    /// The first value of the header `name` (case-insensitive), if any.
    public func value(for name: String) -> String? {
        let wanted = name.lowercased()
        return headers.first { $0.name.lowercased() == wanted }?.value
    }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.status == rhs.status && lhs.headers.elementsEqual(rhs.headers) { $0 == $1 }
    }

    /// Parses the final response head at the start of `bytes`, skipping interim `1xx` heads.
    ///
    /// - Returns: `nil` while the head is incomplete (no blank line yet).
    /// - Throws: ``HTTPPostError/Code-swift.enum/malformedResponse`` for anything that is not
    ///   an HTTP/1.x status line followed by `name: value` lines.
    public static func parse(_ bytes: [UInt8]) throws(HTTPPostError) -> HTTPResponseHead? {
        var start = 0
        while let end = headEnd(in: bytes, from: start) {
            let head = try parseOne(String(decoding: bytes[start..<end], as: UTF8.self))
            guard (100..<200).contains(head.status) else { return head }
            start = end + 4
        }
        return nil
    }

    /// The index of the `\r\n\r\n` that ends the head starting at `start`.
    private static func headEnd(in bytes: [UInt8], from start: Int) -> Int? {
        guard bytes.count >= start + 4 else { return nil }
        for index in start...(bytes.count - 4)
        where bytes[index] == 13 && bytes[index + 1] == 10 && bytes[index + 2] == 13 && bytes[index + 3] == 10 {
            return index
        }
        return nil
    }

    private static func parseOne(_ text: String) throws(HTTPPostError) -> HTTPResponseHead {
        let lines = text.split(separator: "\r\n", omittingEmptySubsequences: false)
        let statusLine = lines[0].split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
        guard statusLine.count >= 2, statusLine[0].hasPrefix("HTTP/1."), statusLine[1].count == 3,
              let status = Int(statusLine[1]), status >= 100 else {
            throw HTTPPostError(.malformedResponse, "not an HTTP/1.x response: \(lines[0].prefix(80))")
        }
        var headers: [(name: String, value: String)] = []
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":"), colon != line.startIndex else {
                throw HTTPPostError(.malformedResponse, "malformed response header line: \(line.prefix(80))")
            }
            let value = line[line.index(after: colon)...].drop { $0 == " " || $0 == "\t" }
            headers.append((String(line[..<colon]), String(value.reversed().drop { $0 == " " || $0 == "\t" }.reversed())))
        }
        return HTTPResponseHead(status: status, headers: headers)
    }
}
