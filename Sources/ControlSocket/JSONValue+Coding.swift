import FoundationEssentials

extension JSONValue {
    /// The JSON form of any `Encodable` value, as `JSONEncoder` writes it.
    ///
    /// Use it to put a status model into ``ControlResponse/success(_:)``.
    /// - Parameters:
    ///   - value: The value to encode.
    ///   - encoder: The encoder to use, for its date and key strategies.
    /// - Throws: `EncodingError` when `value` cannot be encoded (for example a NaN).
    public init(encoding value: some Encodable, with encoder: JSONEncoder = JSONEncoder()) throws {
        let data = try encoder.encode(value)
        self = try JSONDecoder().decode(JSONValue.self, from: data)
    }

    /// Decodes this value as a `T`: the inverse of ``init(encoding:with:)``.
    /// - Parameters:
    ///   - type: The type to decode.
    ///   - decoder: The decoder to use, for its date and key strategies.
    /// - Throws: `DecodingError` when the value does not have `T`'s shape.
    public func decode<T: Decodable>(_ type: T.Type, with decoder: JSONDecoder = JSONDecoder()) throws -> T {
        try decoder.decode(T.self, from: JSONEncoder().encode(self))
    }
}
