import FoundationEssentials

/// Turns one received line into a ``ControlRequest``, or says why it is not one.
///
/// Checks run cheapest first and before `JSONDecoder` sees the bytes: the line must be UTF-8, and
/// its arrays and objects may nest at most `maxDepth` deep, so hostile input cannot exhaust the
/// decoder's stack.
struct RequestLineDecoder: Sendable {
    /// The deepest nesting of arrays and objects accepted; the request object itself counts as 1.
    let maxDepth: Int

    func decode(_ line: some Collection<UInt8>) throws(MalformedRequest) -> ControlRequest {
        guard String(validating: line, as: UTF8.self) != nil else {
            throw MalformedRequest("not valid UTF-8")
        }
        guard Self.nestingDepth(of: line, stoppingAbove: maxDepth) <= maxDepth else {
            throw MalformedRequest("nested deeper than \(maxDepth) levels")
        }
        let json: JSONValue
        do {
            json = try JSONDecoder().decode(JSONValue.self, from: Data(line))
        } catch {
            throw MalformedRequest("invalid JSON")
        }
        return try ControlRequest(validating: json)
    }

    /// The deepest nesting of `[` and `{` outside string literals, counting no further than
    /// `limit + 1`. Brackets need not balance: the decoder rejects what is not JSON.
    static func nestingDepth(of bytes: some Collection<UInt8>, stoppingAbove limit: Int) -> Int {
        var depth = 0
        var deepest = 0
        var inString = false
        var escaped = false
        for byte in bytes {
            if inString {
                if escaped {
                    escaped = false
                } else if byte == UInt8(ascii: "\\") {
                    escaped = true
                } else if byte == UInt8(ascii: "\"") {
                    inString = false
                }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""):
                inString = true
            case UInt8(ascii: "["), UInt8(ascii: "{"):
                depth += 1
                deepest = max(deepest, depth)
                if deepest > limit { return deepest }
            case UInt8(ascii: "]"), UInt8(ascii: "}"):
                depth -= 1
            default:
                break
            }
        }
        return deepest
    }
}
