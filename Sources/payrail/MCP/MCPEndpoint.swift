import Foundation
import PayRailAgent
import PayRailCrypto
import PayRailMCP
import PayRailReceipts

/// The MCP server a command talks to: a URL (Streamable HTTP) or a command line started as a child
/// process (stdio), as `payrail mcp tools|call` and `payrail mcp proxy --upstream-*` name it.
enum MCPEndpoint: Sendable {
    /// A Streamable HTTP endpoint.
    case url(URL)
    /// A program and its arguments, started with this process's environment.
    case command([String])

    /// `URL` or `--command "CMD ARGS"` (exactly one of them).
    static func parse(url: String?, command: String?, urlFlag: String, commandFlag: String) throws(CommandFailure) -> MCPEndpoint {
        switch (url, command) {
        case (let text?, nil):
            guard let parsed = URL(string: text), let scheme = parsed.scheme?.lowercased(), scheme == "http" || scheme == "https",
                  parsed.host != nil, parsed.user == nil, parsed.fragment == nil
            else {
                throw .usage("\(urlFlag) must be an absolute http(s) URL of a Streamable HTTP MCP endpoint, not '\(text)'")
            }
            return .url(parsed)
        case (nil, let text?):
            let argv = try splitCommandLine(text, flag: commandFlag)
            return .command(argv)
        case (nil, nil):
            throw .usage("name the MCP server: \(urlFlag) or \(commandFlag) \"CMD ARGS\"")
        case (.some, .some):
            throw .usage("give either \(urlFlag) or \(commandFlag), not both")
        }
    }

    /// The name the ledger and the price memory know the server by (the host of its `mcp://` URLs):
    /// `host:port`, or `stdio-<program>` for a child process.
    var ledgerName: String {
        switch self {
        case .url(let url):
            let host = url.host.map { $0.contains(":") ? "[\($0)]" : $0 } ?? "mcp-server"
            return url.port.map { "\(host):\($0)" } ?? host
        case .command(let argv):
            let program = argv.first.map { URL(fileURLWithPath: $0).lastPathComponent } ?? ""
            let safe = program.lowercased().unicodeScalars.map { scalar -> String in
                (scalar.isASCII && (CharacterSet.alphanumerics.contains(scalar) || scalar == "-")) ? String(scalar) : "-"
            }.joined()
            return "stdio-" + (safe.isEmpty ? "server" : safe)
        }
    }

    /// What a log line or an error says about the server (no query string: it may carry a key).
    var display: String {
        switch self {
        case .url(let url):
            var components = URLComponents(url: url, resolvingAgainstBaseURL: false)
            components?.query = nil
            components?.password = nil
            return components?.string ?? "the MCP URL"
        case .command(let argv): return argv.first ?? "the MCP command"
        }
    }

    /// Connects a client: starts the child or opens the HTTP session, then runs `initialize`.
    ///
    /// - Throws: `CommandFailure` (exit 5, nothing paid) when the server cannot be reached or refuses.
    func connect(options: MCPClient.Options) async throws(CommandFailure) -> MCPClient {
        let transport: any MCPMessageTransport
        switch self {
        case .url(let url):
            transport = MCPStreamableHTTPClientTransport(url: url)
        case .command(let argv):
            // The server is another program: it never sees this process's rail keys, wallet or
            // database URL (every setting of ours is a PAYRAIL_ variable).
            let environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("PAYRAIL_") }
            do { transport = try MCPChildProcessTransport(argv: argv, environment: environment) } catch {
                throw CommandFailure(exitCode: .network, message: "cannot start the MCP server \(display): \(error.reason)")
            }
        }
        let client = MCPClient(transport: transport, options: options)
        do { try await client.connect() } catch {
            await client.close()
            throw CommandFailure(exitCode: .network, message: "the MCP server \(display) did not start a session: \(error)")
        }
        return client
    }

    /// The receipt keys of a Streamable HTTP server: its origin's `/.well-known/payrail/jwks.json`
    /// (what `payrail mcp proxy` and `payrail serve` publish), read once, at most 64 KiB. `nil` for a
    /// child process or a server that publishes none: receipts are then recorded unverified, as the
    /// ledger says, and the tool call goes on.
    func receiptKeys() async -> ReceiptKeySource? {
        guard case .url(let url) = self, var components = URLComponents(url: url, resolvingAgainstBaseURL: false) else { return nil }
        components.path = ReceiptKeySource.wellKnownPath
        components.query = nil
        guard let keysURL = components.url,
              let answer = try? await BoundedGet.get(keysURL, limit: 64 * 1024, timeout: .seconds(10)),
              answer.status == 200, !answer.truncated,
              let keys = try? ReceiptKeySet(jwksJSON: Data(answer.body))
        else { return nil }
        return .pinned(keys)
    }

    /// Splits `CMD ARGS` as a POSIX shell splits words: blanks separate, single quotes keep everything,
    /// double quotes keep all but `\"` and `\\`, a backslash outside quotes escapes the next character.
    /// Nothing is expanded (no variables, globs or substitutions): the words are passed as they are.
    static func splitCommandLine(_ text: String, flag: String) throws(CommandFailure) -> [String] {
        var words: [String] = []
        var current = ""
        var inWord = false
        var quote: Character?
        var escaping = false
        for character in text {
            if escaping {
                current.append(character)
                escaping = false
                inWord = true
                continue
            }
            switch (quote, character) {
            case ("'", "'"), ("\"", "\""): quote = nil
            case ("\"", "\\"), (nil, "\\"): escaping = true
            case (nil, "'"), (nil, "\""): quote = character; inWord = true
            case (nil, " "), (nil, "\t"), (nil, "\n"):
                if inWord { words.append(current) }
                current = ""
                inWord = false
            default:
                current.append(character)
                inWord = true
            }
        }
        guard quote == nil, !escaping else { throw .usage("\(flag) has an unterminated quote or a trailing backslash") }
        if inWord { words.append(current) }
        guard let first = words.first, !first.isEmpty else { throw .usage("\(flag) needs a program to start") }
        return words
    }
}
