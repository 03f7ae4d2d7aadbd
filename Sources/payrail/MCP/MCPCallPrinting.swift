import Foundation
import PayRail
import PayRailAgent
import PayRailCrypto
import PayRailHTTP
import PayRailMCP
import PayRailMCPPayments

/// Prints a paid tool call the way `payrail fetch` prints a paid request: the result on stdout, one
/// summary line on stderr, the exit code by what happened to the money.
enum MCPCallPrinting {
    static func callAndPrint(_ paying: PayingMCPClient, tool: String, arguments: [String: JSONValue], endpoint: MCPEndpoint,
                             paymentID: String?, asJSON: Bool, explain: AgentCommands.ExplainedSkips?) async throws -> ExitCode {
        let label = PaidRequest(method: MCPToolRoute.method, url: URL(string: "mcp:\(MCPToolRoute.path(for: tool))") ?? URL(fileURLWithPath: "/"))
        do {
            let paid = try await paying.callTool(name: tool, arguments: arguments, paymentID: paymentID)
            if let explain { AgentCommands.printExplanation(paid.negotiation, request: label, skipped: explain.lines) }
            if asJSON {
                try AgentCommands.printJSON(success(paid, tool: tool, endpoint: endpoint))
            } else if case .result(let result) = paid.outcome {
                FileHandle.standardOutput.write(Data(text(of: result).utf8))
            }
            FileHandle.standardError.write(Data((summary(paid, tool: tool) + "\n").utf8))
            if case .error = paid.outcome { return paid.payment == nil ? .refused : .paidNotDelivered }
            return .success
        } catch let error as PayingMCPError {
            if let explain { AgentCommands.printExplanation(error.payment?.negotiation, request: label, skipped: explain.lines) }
            if asJSON {
                try AgentCommands.printJSON([
                    "server": endpoint.display, "tool": tool,
                    "error": ["code": error.code.rawValue, "reason": error.reason, "retrySafe": error.isRetrySafe,
                              "paymentId": error.payment?.paymentID ?? NSNull()] as [String: Any],
                    "negotiation": AgentCommands.negotiationJSON(error.payment?.negotiation),
                ])
            }
            let exit: ExitCode
            if error.code == .priceAboveAdvertised || error.code == .invalidRequest {
                exit = .refused
            } else if let payment = error.payment {
                exit = AgentCommands.exitCode(for: payment)
            } else {
                exit = .network
            }
            throw CommandFailure(exitCode: exit, message: LogText.escaped(error.description, limit: 2_048))
        }
    }

    /// The text blocks of a result, each on its own line; other blocks are named by their type.
    static func text(of result: MCPToolResult) -> String {
        result.content.map { block -> String in
            guard case .object(let object) = block else { return "" }
            if case .string(let text)? = object["text"] { return text.hasSuffix("\n") ? text : text + "\n" }
            if case .string(let type)? = object["type"] { return "[\(type) content]\n" }
            return ""
        }.joined()
    }

    static func summary(_ paid: PaidToolResult, tool: String) -> String {
        let answer: String
        switch paid.outcome {
        case .result(let result):
            let name = LogText.escaped(tool, limit: 128)
            answer = result.isError ? "tool \(name) answered with an error result" : "tool \(name) answered"
        // The remote's words, escaped: a hostile server must not write control sequences to a terminal.
        case .error(let error): answer = "tool \(LogText.escaped(tool, limit: 128)) refused: \(LogText.escaped(error.description))"
        }
        guard let payment = paid.payment else { return "payrail: \(answer), no payment needed" }
        let receipt: String
        switch payment.receiptCheck {
        case .verified: receipt = "receipt verified"
        case .unverifiable(let why): receipt = "receipt not checked (\(why))"
        case .invalid(let why): receipt = "RECEIPT INVALID (\(why))"
        }
        let verb = payment.resumed ? "finished an earlier payment of" : "paid"
        return "payrail: \(answer), \(verb) \(payment.amount) on \(payment.rail) (\(payment.dialect.rawValue)), \(receipt), "
            + "payment \(payment.paymentID)"
    }

    private static func success(_ paid: PaidToolResult, tool: String, endpoint: MCPEndpoint) -> [String: Any] {
        var object: [String: Any] = [
            "server": endpoint.display, "tool": tool, "paid": paid.payment != nil,
            "payment": paid.payment.map(AgentCommands.paymentJSON) ?? NSNull(),
            "negotiation": AgentCommands.negotiationJSON(paid.negotiation),
            "result": NSNull(), "error": NSNull(),
        ]
        switch paid.outcome {
        case .result(let result):
            object["result"] = [
                "content": JSONBridge.foundation(.array(result.content)),
                "structuredContent": result.structuredContent.map(JSONBridge.foundation) ?? NSNull(),
                "isError": result.isError,
            ] as [String: Any]
        case .error(let error):
            object["error"] = ["code": error.code, "message": error.message] as [String: Any]
        }
        return object
    }
}

/// JSONValue as Foundation objects, for the CLI's `JSONSerialization` output.
enum JSONBridge {
    static func foundation(_ value: JSONValue) -> Any {
        switch value {
        case .null: return NSNull()
        case .bool(let flag): return flag
        case .number(let number):
            if number.rounded() == number, abs(number) < 9_007_199_254_740_992 { return Int64(number) }
            return number
        case .string(let text): return text
        case .array(let items): return items.map(foundation)
        case .object(let members): return members.mapValues(foundation)
        }
    }
}
