import Foundation
import PayRailCrypto
import Testing
@testable import PayRailMCP

@Suite("JSON-RPC messages")
struct JSONRPCTests {
    private func decode(_ text: String, limit: Int = JSONRPCCodec.defaultMessageLimit) -> Result<JSONRPCMessage, JSONRPCParseFailure> {
        Result { () throws(JSONRPCParseFailure) in try JSONRPCCodec.decode(Array(text.utf8), limit: limit) }
    }

    @Test func readsRequestsNotificationsAndResponses() throws {
        #expect(try decode(#"{"jsonrpc":"2.0","id":7,"method":"tools/list","params":{"cursor":"2"}}"#).get()
            == .request(id: .number(7), method: "tools/list", params: ["cursor": .string("2")]))
        #expect(try decode(#"{"jsonrpc":"2.0","id":"a","method":"ping"}"#).get() == .request(id: .string("a"), method: "ping", params: nil))
        #expect(try decode(#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#).get()
            == .notification(method: "notifications/initialized", params: nil))
        #expect(try decode(#"{"jsonrpc":"2.0","id":1,"result":{}}"#).get() == .response(id: .number(1), result: .object([:])))
        #expect(try decode(#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"bad"}}"#).get()
            == .errorResponse(id: nil, error: MCPError(code: -32700, message: "bad")))
    }

    @Test func roundTripsThroughTheEncoder() throws {
        let messages: [JSONRPCMessage] = [
            .request(id: .number(9_007_199_254_740_991), method: "tools/call", params: ["name": .string("x")]),
            .request(id: .string("id-1"), method: "ping", params: nil),
            .notification(method: "notifications/progress", params: ["progress": .number(1.5)]),
            .response(id: .string("z"), result: .object(["content": .array([])])),
            .errorResponse(id: .number(3), error: MCPError(code: -32042, message: "pay", data: .object(["challenges": .array([])]))),
        ]
        for message in messages {
            let bytes = JSONRPCCodec.encode(message)
            #expect(!bytes.contains(UInt8(ascii: "\n")))
            #expect(try decode(String(decoding: bytes, as: UTF8.self)).get() == message)
        }
    }

    @Test func refusesWhatIsNotJSONWithParseError() {
        guard case .failure(let failure) = decode("{not json") else { Issue.record("accepted"); return }
        #expect(failure.error.code == MCPError.parseError)
        #expect(failure.id == nil)
        guard case .failure(let large) = decode(#"{"jsonrpc":"2.0","method":"x"}"#, limit: 10) else { Issue.record("accepted"); return }
        #expect(large.error.code == MCPError.parseError)
    }

    @Test(arguments: [
        #"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#,
        #"{"jsonrpc":"1.0","id":1,"method":"ping"}"#,
        #"{"id":1,"method":"ping"}"#,
        #"{"jsonrpc":"2.0","id":null,"method":"ping"}"#,
        #"{"jsonrpc":"2.0","id":1.5,"method":"ping"}"#,
        #"{"jsonrpc":"2.0","id":true,"method":"ping"}"#,
        #"{"jsonrpc":"2.0","id":1,"method":"ping","params":[1,2]}"#,
        #"{"jsonrpc":"2.0","id":1,"method":""}"#,
        #"{"jsonrpc":"2.0","id":1,"result":{},"error":{"code":1,"message":"x"}}"#,
        #"{"jsonrpc":"2.0","id":1}"#,
        #"{"jsonrpc":"2.0","id":1,"error":{"code":1.5,"message":"x"}}"#,
        #"{"jsonrpc":"2.0","result":{}}"#,
        #""text""#,
    ])
    func refusesInvalidMessagesWithInvalidRequest(_ text: String) {
        guard case .failure(let failure) = decode(text) else { Issue.record("accepted \(text)"); return }
        #expect(failure.error.code == MCPError.invalidRequest)
    }

    @Test func keepsTheIdOfAnInvalidRequestForTheAnswer() {
        guard case .failure(let failure) = decode(#"{"jsonrpc":"2.0","id":"k","method":"x","params":"no"}"#) else {
            Issue.record("accepted"); return
        }
        #expect(failure.id == .string("k"))
        #expect(failure.answer == .errorResponse(id: .string("k"), error: failure.error))
    }

    @Test func framesLinesAndSkipsOversizedOnes() {
        var framer = LineFramer(limit: 8)
        var items = framer.feed(Array("abc\r\n\n12345".utf8))
        items += framer.feed(Array("6789012\nok\n".utf8))
        #expect(items == [.line(Array("abc".utf8)), .oversized, .line(Array("ok".utf8))])
    }

    @Test func toolsAndResultsRoundTrip() throws {
        let tool = MCPTool(name: "search", title: "Search", description: "d", meta: ["price": .string("10 sat")])
        #expect(try MCPTool(json: tool.json) == tool)
        let result = MCPToolResult(content: [.object(["type": .string("text"), "text": .string("hi")])],
                                   structuredContent: .object(["n": .number(1)]), isError: true, meta: ["r": .null])
        #expect(try MCPToolResult(json: result.json) == result)
        #expect(result.text == "hi")
        #expect(throws: MCPError.self) { try MCPTool(json: .object(["name": .string("x")])) }
    }
}
