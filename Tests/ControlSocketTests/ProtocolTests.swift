import Foundation
import Testing

@testable import ControlSocket

@Suite struct ProtocolTests {
    private let decoder = RequestLineDecoder(maxDepth: 64)

    private func decode(_ text: String) throws(MalformedRequest) -> ControlRequest {
        try decoder.decode(Array(text.utf8))
    }

    private func reason(_ bytes: [UInt8]) -> String? {
        do {
            _ = try decoder.decode(bytes)
            return nil
        } catch {
            return error.reason
        }
    }

    @Test func requestArgumentsSitNextToCmd() throws {
        let request = try decode(#"{"cmd":"run","job":"hash_verification"}"#)
        #expect(request == ControlRequest(.run, args: ["job": "hash_verification"]))
        #expect(request.command == .run)
        #expect(request.json == ["cmd": "run", "job": "hash_verification"])
    }

    @Test func requestCodableUsesTheWireShape() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let data = try encoder.encode(ControlRequest(.alerts, args: ["limit": 5]))
        #expect(String(decoding: data, as: UTF8.self) == #"{"cmd":"alerts","limit":5}"#)
        #expect(try JSONDecoder().decode(ControlRequest.self, from: data).args == ["limit": 5])
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(ControlRequest.self, from: Data("[]".utf8)) }
    }

    @Test func cmdInArgumentsIsIgnored() {
        #expect(ControlRequest(cmd: "status", args: ["cmd": "reload"]).json == ["cmd": "status"])
    }

    @Test(arguments: [
        (#"{"cmd":"status""#, "invalid JSON"),
        ("[1,2]", "expected a JSON object"),
        (#""status""#, "expected a JSON object"),
        (#"{"job":"x"}"#, #"missing "cmd""#),
        (#"{"cmd":5}"#, #""cmd" must be a string"#),
        (#"{"cmd":null}"#, #""cmd" must be a string"#),
    ])
    func malformedRequestsSayWhy(line: String, expected: String) {
        #expect(reason(Array(line.utf8)) == expected)
    }

    @Test func invalidUTF8IsRefused() {
        #expect(reason(Array(#"{"cmd":""#.utf8) + [0xFF, 0xFE] + Array(#""}"#.utf8)) == "not valid UTF-8")
    }

    @Test func nestingIsLimited() throws {
        func nested(_ depth: Int) -> String {
            #"{"cmd":"status","x":"# + String(repeating: "[", count: depth - 1) + String(repeating: "]", count: depth - 1) + "}"
        }
        #expect(try decode(nested(64)).cmd == "status")
        #expect(reason(Array(nested(65).utf8)) == "nested deeper than 64 levels")
        #expect(reason(Array(String(repeating: "[", count: 100_000).utf8)) == "nested deeper than 64 levels")
    }

    @Test func bracketsInsideStringsDoNotCount() throws {
        let brackets = String(repeating: "[{", count: 100)
        #expect(try decode(#"{"cmd":"status","s":"\"\#(brackets)\\"}"#).args["s"] == .string("\"\(brackets)\\"))
    }

    @Test func responsesHaveTheWireShape() {
        #expect(String(decoding: ControlResponse.success(["jobs": 2]).line, as: UTF8.self) == #"{"data":{"jobs":2},"ok":true}"# + "\n")
        #expect(String(decoding: ControlResponse.success(nil).line, as: UTF8.self) == #"{"data":null,"ok":true}"# + "\n")
        #expect(String(decoding: ControlResponse.failure("no such job").line, as: UTF8.self) == #"{"error":"no such job","ok":false}"# + "\n")
    }

    @Test func unencodableResponsesBecomeFailures() throws {
        let line = ControlResponse.success(.number(.infinity)).line
        let response = try JSONDecoder().decode(ControlResponse.self, from: Data(line.dropLast()))
        #expect(response.errorMessage?.hasPrefix("internal error") == true)
    }

    @Test func responsesDecode() throws {
        #expect(try JSONDecoder().decode(ControlResponse.self, from: Data(#"{"ok":true}"#.utf8)) == .success(nil))
        #expect(try JSONDecoder().decode(ControlResponse.self, from: Data(#"{"ok":false,"error":"x"}"#.utf8)) == .failure("x"))
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(ControlResponse.self, from: Data(#"{"ok":false}"#.utf8)) }
    }

    @Test func onlyRunAndReloadMutate() {
        #expect(ControlCommand.allCases.filter(\.isMutating) == [.run, .reload])
    }
}
