import ControlSocket
import Foundation
import Testing

@Suite struct JSONValueTests {
    private func decode(_ text: String) throws -> JSONValue {
        try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
    }

    @Test func decodesEveryKind() throws {
        let value = try decode(#"{"n":null,"b":true,"i":42,"d":1.5,"s":"x","a":[1,"y"],"o":{"k":false}}"#)
        #expect(value == ["n": nil, "b": true, "i": 42, "d": 1.5, "s": "x", "a": [1, "y"], "o": ["k": false]])
    }

    @Test func keepsIntegersExactAndOtherNumbersAsDoubles() throws {
        #expect(try decode("9007199254740993") == .integer(9_007_199_254_740_993))
        #expect(try decode("123456789012345678901234567890").doubleValue == 1.2345678901234568e29)
        #expect(try decode("-0.25") == .number(-0.25))
    }

    @Test func roundTripsThroughJSON() throws {
        let value: JSONValue = ["list": [1, 2.5, "three", nil, ["deep": true]], "empty": [:]]
        let data = try JSONEncoder().encode(value)
        #expect(try JSONDecoder().decode(JSONValue.self, from: data) == value)
    }

    @Test func accessorsAnswerOnlyForTheirKind() {
        let value: JSONValue = ["job": "token_cleanup", "limit": 20, "ratio": 0.5, "on": true, "xs": [7]]
        #expect(value["job"]?.stringValue == "token_cleanup")
        #expect(value["limit"]?.intValue == 20)
        #expect(value["limit"]?.doubleValue == 20)
        #expect(value["ratio"]?.intValue == nil)
        #expect(value["on"]?.boolValue == true)
        #expect(value["xs"]?[0] == 7)
        #expect(value["xs"]?[1] == nil)
        #expect(value["job"]?.intValue == nil)
        #expect(value["missing"] == nil)
        #expect(JSONValue.null.isNull)
        #expect(value.objectValue?.count == 5)
    }

    @Test func encodesAndDecodesCodableValues() throws {
        struct Job: Codable, Equatable {
            var name: String
            var runs: Int
            var lastError: String?
        }
        let job = Job(name: "health_check", runs: 3, lastError: nil)
        let value = try JSONValue(encoding: job)
        #expect(value == ["name": "health_check", "runs": 3])
        #expect(try value.decode(Job.self) == job)
    }

    @Test func refusesToEncodeNaN() {
        #expect(throws: EncodingError.self) { try JSONEncoder().encode(JSONValue.number(.nan)) }
    }
}
