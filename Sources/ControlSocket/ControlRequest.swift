/// One request on the status socket.
///
/// On the wire a request is one JSON object on one line. Its `"cmd"` member names the command; every
/// other member is an argument, so arguments sit next to `cmd` rather than under a nested key:
///
/// ```
/// {"cmd":"status"}
/// {"cmd":"alerts","limit":20}
/// {"cmd":"run","job":"hash_verification"}
/// ```
///
/// Arguments are kept as ``JSONValue``s; the handler checks their types and answers with a
/// ``ControlResponse/failure(_:)`` when one is missing or wrong.
public struct ControlRequest: Sendable, Hashable {
    /// The command's name, e.g. `"status"`. See ``ControlCommand`` for the known ones.
    public var cmd: String
    /// The arguments: every member of the request object except `cmd`.
    public var args: [String: JSONValue]

    /// A request for any command name.
    /// - Parameters:
    ///   - cmd: The command's name.
    ///   - args: The arguments. A `"cmd"` key here is ignored: `cmd` wins.
    public init(cmd: String, args: [String: JSONValue] = [:]) {
        self.cmd = cmd
        self.args = args.filter { $0.key != "cmd" }
    }

    /// A request for a known command.
    /// - Parameters:
    ///   - command: The command.
    ///   - args: The arguments, e.g. `["job": "token_cleanup"]` for ``ControlCommand/run``.
    public init(_ command: ControlCommand, args: [String: JSONValue] = [:]) {
        self.init(cmd: command.rawValue, args: args)
    }

    /// The known command this request names, or `nil` for an unknown name.
    public var command: ControlCommand? { ControlCommand(rawValue: cmd) }

    /// The request as the JSON object sent on the wire.
    public var json: JSONValue {
        var members = args
        members["cmd"] = .string(cmd)
        return .object(members)
    }

    /// Reads a request from the JSON object sent on the wire.
    /// - Throws: ``MalformedRequest`` when `json` is not an object or has no string `cmd`.
    init(validating json: JSONValue) throws(MalformedRequest) {
        guard case .object(var members) = json else {
            throw MalformedRequest("expected a JSON object")
        }
        guard let cmd = members.removeValue(forKey: "cmd") else {
            throw MalformedRequest("missing \"cmd\"")
        }
        guard case .string(let name) = cmd else {
            throw MalformedRequest("\"cmd\" must be a string")
        }
        self.init(cmd: name, args: members)
    }
}

extension ControlRequest: Codable {
    /// Decodes a request from its wire object.
    public init(from decoder: any Decoder) throws {
        let json = try JSONValue(from: decoder)
        do {
            try self.init(validating: json)
        } catch {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: error.reason))
        }
    }

    /// Encodes the request as its wire object.
    public func encode(to encoder: any Encoder) throws {
        try json.encode(to: encoder)
    }
}
