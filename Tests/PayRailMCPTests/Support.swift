import Foundation
import PayRailCrypto
import Testing
@testable import PayRailMCP

/// The tools most tests serve: `echo`, `slow` (progress, cancellable, records that it was cancelled),
/// `ask` (elicitation), `fail` (a thrown error becomes an `isError` result).
struct TestTools {
    let registry = MCPToolRegistry()
    let cancelled = Locked(false)

    init() {
        registry.register(MCPTool(name: "echo")) { call, _ in
            guard case .string(let text)? = call.arguments["text"] else { throw MCPError(code: MCPError.invalidParams, message: "text") }
            return .text(text)
        }
        let cancelled = self.cancelled
        registry.register(MCPTool(name: "slow")) { call, context in
            let steps = call.arguments["steps"].flatMap { if case .number(let n) = $0 { Int(n) } else { nil } } ?? 3
            let delay = call.arguments["delayMs"].flatMap { if case .number(let n) = $0 { Int(n) } else { nil } } ?? 20
            for step in 1...steps {
                do {
                    try await Task.sleep(for: .milliseconds(delay))
                } catch {
                    cancelled.withLock { $0 = true }
                    throw error
                }
                await context.reportProgress(Double(step), total: Double(steps), message: "step \(step)")
            }
            return .text("done")
        }
        registry.register(MCPTool(name: "ask")) { _, context in
            guard context.canElicit else { return .text("cannot ask", isError: true) }
            let answer = try await context.elicit(message: "name?", requestedSchema: .object(["type": .string("object")]))
            return .text("\(answer.action.rawValue) \(answer.content?["name"]?.stringValue ?? "-")")
        }
        struct Broken: Error, CustomStringConvertible { var description: String { "the tool broke" } }
        registry.register(MCPTool(name: "fail")) { _, _ in throw Broken() }
    }

    func server(pageSize: Int? = nil, middleware: [any MCPToolMiddleware] = []) -> MCPServer {
        MCPServer(info: MCPImplementation(name: "test-server", version: "0.1"), provider: registry, middleware: middleware,
                  pageSize: pageSize, diagnostics: { _ in })
    }
}

/// Two pipes: a server transport on one end, a client transport on the other (stdio framing in process).
struct PipePair {
    let toServer = Pipe()
    let toClient = Pipe()

    var serverTransport: MCPStdioTransport {
        MCPStdioTransport(input: toServer.fileHandleForReading.fileDescriptor, output: toClient.fileHandleForWriting.fileDescriptor)
    }

    var clientTransport: MCPStdioTransport {
        MCPStdioTransport(input: toClient.fileHandleForReading.fileDescriptor, output: toServer.fileHandleForWriting.fileDescriptor)
    }

    /// Ends the client's side so the server's read sees end of input.
    func closeClientSide() {
        try? toServer.fileHandleForWriting.close()
    }
}

/// Collects values from `@Sendable` callbacks.
final class Recorder<Value: Sendable>: Sendable {
    private let values = Locked<[Value]>([])
    func append(_ value: Value) { values.withLock { $0.append(value) } }
    var all: [Value] { values.withLock { $0 } }
}

/// The text of a successful outcome, or a description of what came instead.
func text(of outcome: MCPToolOutcome) -> String {
    switch outcome {
    case .result(let result): return result.isError ? "isError: \(result.text)" : result.text
    case .error(let error): return "error \(error.code): \(error.message)"
    }
}

/// The `mcp-test-server` binary built beside the test bundle.
let testServerBinary: URL = {
    let products = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    let candidates = [products, products.deletingLastPathComponent()].map { $0.appendingPathComponent("mcp-test-server") }
    return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) } ?? candidates[0]
}()
