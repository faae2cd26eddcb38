import FoundationEssentials

/// One response on the status socket: `{"ok":true,"data":<any JSON>}` or `{"ok":false,"error":"<text>"}`.
public enum ControlResponse: Sendable, Hashable {
    /// The command succeeded; `data` is its result (`null` when there is nothing to say).
    case success(JSONValue)
    /// The command failed; the text is meant for a human.
    case failure(String)

    /// Whether the command succeeded.
    public var isOK: Bool {
        if case .success = self { true } else { false }
    }

    /// The result, for a success.
    public var data: JSONValue? {
        if case .success(let data) = self { data } else { nil }
    }

    /// The error text, for a failure.
    public var errorMessage: String? {
        if case .failure(let message) = self { message } else { nil }
    }

    /// The response as one newline-terminated line of UTF-8 JSON. A success whose data cannot be
    /// encoded (a NaN, an infinity) becomes a failure saying so, so a reply is always sent.
    var line: [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data: Data
        do {
            data = try encoder.encode(self)
        } catch {
            let fallback = ControlResponse.failure("internal error: the response could not be encoded as JSON")
            data = (try? encoder.encode(fallback)) ?? Data(#"{"ok":false,"error":"internal error"}"#.utf8)
        }
        return Array(data) + [UInt8(ascii: "\n")]
    }
}

extension ControlResponse: Codable {
    private enum CodingKeys: String, CodingKey {
        case ok, data, error
    }

    /// Decodes a response; a success without `data` has `null` data.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        if try container.decode(Bool.self, forKey: .ok) {
            self = .success(try container.decodeIfPresent(JSONValue.self, forKey: .data) ?? .null)
        } else {
            self = .failure(try container.decode(String.self, forKey: .error))
        }
    }

    /// Encodes the response in its wire shape.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .success(let data):
            try container.encode(true, forKey: .ok)
            try container.encode(data, forKey: .data)
        case .failure(let message):
            try container.encode(false, forKey: .ok)
            try container.encode(message, forKey: .error)
        }
    }
}
