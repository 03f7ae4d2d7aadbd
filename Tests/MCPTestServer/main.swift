import Foundation
import PayRailCrypto
import PayRailHTTP
import PayRailMCP

// A small MCP server for the interop tests: the official Python SDK's client starts it (stdio) or
// connects to it (Streamable HTTP), and our own client tests run it as a real child process.
//
//   mcp-test-server [--stdio | --http PORT] [--page-size N]
//
// Tools: `echo` (returns its `text`), `slow` (reports progress each step, stops when cancelled),
// `ask` (asks the person through elicitation and returns what they answered).

let arguments = CommandLine.arguments.dropFirst()
func option(_ name: String) -> String? {
    guard let index = arguments.firstIndex(of: name), arguments.index(after: index) < arguments.endIndex else { return nil }
    return arguments[arguments.index(after: index)]
}

let registry = MCPToolRegistry()
registry.register(MCPTool(
    name: "echo", description: "Returns the text it is given.",
    inputSchema: .object(["type": .string("object"), "properties": .object(["text": .object(["type": .string("string")])]),
                          "required": .array([.string("text")])])
)) { call, _ in
    guard case .string(let text)? = call.arguments["text"] else { throw MCPError(code: MCPError.invalidParams, message: "text must be a string") }
    return .text(text)
}
registry.register(MCPTool(
    name: "slow", description: "Counts steps, reporting progress, then says done.",
    inputSchema: .object(["type": .string("object"), "properties": .object([
        "steps": .object(["type": .string("integer")]), "delayMs": .object(["type": .string("integer")]),
    ])])
)) { call, context in
    let steps = call.arguments["steps"].flatMap { if case .number(let n) = $0 { Int(exactly: n) } else { nil } } ?? 3
    let delay = call.arguments["delayMs"].flatMap { if case .number(let n) = $0 { Int(exactly: n) } else { nil } } ?? 50
    for step in 1...max(1, min(steps, 10_000)) {
        try await Task.sleep(for: .milliseconds(max(0, min(delay, 60_000))))
        await context.reportProgress(Double(step), total: Double(steps), message: "step \(step)")
    }
    return .text("done after \(steps) steps")
}
registry.register(MCPTool(name: "ask", description: "Asks the person for a name.")) { _, context in
    guard context.canElicit else { return .text("cannot ask", isError: true) }
    let schema: JSONValue = .object(["type": .string("object"), "properties": .object(["name": .object(["type": .string("string")])]),
                                     "required": .array([.string("name")])])
    let answer = try await context.elicit(message: "What is your name?", requestedSchema: schema)
    guard answer.action == .accept, case .string(let name)? = answer.content?["name"] else { return .text("no answer: \(answer.action.rawValue)") }
    return .text("hello \(name)")
}

let server = MCPServer(
    info: MCPImplementation(name: "payrail-mcp-test-server", version: "1.0.0"), provider: registry,
    pageSize: option("--page-size").flatMap { Int($0) })

if let port = option("--http").flatMap({ UInt16($0) }) {
    let endpoint = MCPStreamableHTTPServer(server: server)
    let http = HTTPServer(configuration: HTTPServerConfiguration(host: "127.0.0.1", port: port), handler: endpoint.handler)
    do {
        let bound = try http.start()
        FileHandle.standardError.write(Data("mcp-test-server listening on http://127.0.0.1:\(bound)/mcp\n".utf8))
    } catch {
        FileHandle.standardError.write(Data("mcp-test-server: \(error)\n".utf8))
        exit(1)
    }
    while true { try? await Task.sleep(for: .seconds(3600)) }
} else {
    do {
        try await server.serve(MCPStdioTransport())
    } catch {
        FileHandle.standardError.write(Data("mcp-test-server: \(error)\n".utf8))
        exit(1)
    }
}
