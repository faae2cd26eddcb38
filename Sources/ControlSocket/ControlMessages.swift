import Foundation

/// A command sent to the daemon: one JSON object per line, `{"cmd": "status"}` or with
/// arguments beside `cmd`, e.g. `{"cmd": "run", "job": "health_check"}`.
public struct ControlRequest: Sendable, Equatable {
    public var cmd: String
    /// Every member other than `cmd`.
    public var args: [String: JSONValue]

    public init(cmd: String, args: [String: JSONValue] = [:]) {
        self.cmd = cmd
        self.args = args
    }

    /// The request as one line of JSON (without the newline).
    public var line: String {
        var members = args
        members["cmd"] = .string(cmd)
        return JSONValue.object(members).jsonText
    }

    /// Parses one request line; the error text says what is wrong with it.
    public static func parse(_ line: Data) -> Result<ControlRequest, ControlProtocolError> {
        guard String(data: line, encoding: .utf8) != nil else {
            return .failure(.init("malformed request: not valid UTF-8"))
        }
        if nestingDepth(line) > maximumDepth {
            return .failure(.init("malformed request: nested deeper than \(maximumDepth) levels"))
        }
        let value: JSONValue
        do {
            value = try JSONDecoder().decode(JSONValue.self, from: line)
        } catch {
            return .failure(.init("malformed request: not JSON"))
        }
        guard case .object(var members) = value else {
            return .failure(.init("malformed request: expected a JSON object"))
        }
        guard let command = members.removeValue(forKey: "cmd") else {
            return .failure(.init("malformed request: missing \"cmd\""))
        }
        guard case .string(let cmd) = command, !cmd.isEmpty else {
            return .failure(.init("malformed request: \"cmd\" must be a non-empty string"))
        }
        return .success(ControlRequest(cmd: cmd, args: members))
    }

    /// Requests nested deeper than this are refused before decoding.
    public static let maximumDepth = 64

    private static func nestingDepth(_ data: Data) -> Int {
        var depth = 0, deepest = 0, inString = false, escaped = false
        for byte in data {
            if inString {
                if escaped { escaped = false } else if byte == UInt8(ascii: "\\") { escaped = true } else if byte == UInt8(ascii: "\"") { inString = false }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""): inString = true
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                depth += 1
                deepest = max(deepest, depth)
            case UInt8(ascii: "}"), UInt8(ascii: "]"): depth -= 1
            default: break
            }
        }
        return deepest
    }
}

/// The daemon's answer: `{"ok": true, "data": …}` or `{"ok": false, "error": "…"}`.
public enum ControlResponse: Sendable, Equatable {
    case success(JSONValue)
    case failure(String)

    /// The response as one line of JSON (without the newline).
    public var line: String {
        switch self {
        case .success(let data): JSONValue.object(["ok": true, "data": data]).jsonText
        case .failure(let error): JSONValue.object(["ok": false, "error": .string(error)]).jsonText
        }
    }

    /// Parses a response line.
    public static func parse(_ line: Data) throws(ControlProtocolError) -> ControlResponse {
        guard let value = try? JSONDecoder().decode(JSONValue.self, from: line), let ok = value["ok"]?.boolValue else {
            throw ControlProtocolError("malformed response from the daemon")
        }
        if ok { return .success(value["data"] ?? .null) }
        return .failure(value["error"]?.stringValue ?? "unknown error")
    }
}

/// A request or response that does not follow the protocol.
public struct ControlProtocolError: Error, Sendable, Equatable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// The commands the daemon serves.
public enum ControlCommand: String, Sendable, CaseIterable {
    case status, jobs, alerts, run, reload, version

    /// Commands that change what the daemon does; only trusted peers may send them.
    public var isMutating: Bool { self == .run || self == .reload }
}
