import Foundation
import PayRailCrypto
import PayRailHTTP
import PayRailTestPeers
import Testing
@testable import PayRailMCP

/// The Python peers of these tests (official MCP SDK, `mcp` pinned in scripts/peers-requirements.txt).
enum MCPPeers {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Peers")
    static var client: URL { directory.appendingPathComponent("sdk_client.py") }
    static var server: URL { directory.appendingPathComponent("sdk_server.py") }

    /// Runs the SDK client script on a thread of its own (it blocks until the script exits) and reads
    /// the JSON object it prints.
    static func runClient(_ arguments: [String]) async throws -> [String: JSONValue] {
        let output: String = try await withCheckedThrowingContinuation { continuation in
            Thread {
                continuation.resume(with: Result { try PythonPeer.run(client, arguments) })
            }.start()
        }
        let line = output.split(separator: "\n").last.map(String.init) ?? ""
        guard case .object(let object) = try CanonicalJSON.parse(Array(line.utf8)) else {
            throw PeerFailure( "sdk_client.py printed no JSON object: \(output.prefix(500))")
        }
        return object
    }
}

/// The SDK's server on Streamable HTTP, as a child process on a free loopback port, stopped by pid.
final class PythonHTTPServerPeer: Sendable {
    let url: URL
    let process: Process
    let network: PeerNetworkGuard
    let logURL: URL

    init(json: Bool) throws {
        let port = try LoopbackPort.free()
        guard let url = URL(string: "http://127.0.0.1:\(port)/mcp") else { throw PeerFailure( "no URL") }
        self.url = url
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("payrail-mcp-peer-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        logURL = scratch.appendingPathComponent("server.log")
        var arguments = [MCPPeers.server.path, "http", String(port)]
        if json { arguments.append("--json") }
        (process, network) = try GuardedPythonServer.launch(
            python: try PythonPeer.interpreter(), arguments: arguments, directory: scratch,
            environment: ProcessInfo.processInfo.environment, logURL: logURL)
    }

    /// Connects a client, retrying while the server starts (at most `within`).
    func connect(_ options: MCPClient.Options, within: Duration = .seconds(30)) async throws -> MCPClient {
        let deadline = ContinuousClock.now + within
        while true {
            let client = MCPClient(transport: MCPStreamableHTTPClientTransport(url: url), options: options)
            do {
                try await client.connect()
                return client
            } catch {
                await client.close()
                guard ContinuousClock.now < deadline, process.isRunning else {
                    throw PeerFailure( "the SDK server did not answer: \(error)\n\(log)")
                }
                try await Task.sleep(for: .milliseconds(200))
            }
        }
    }

    var log: String { (try? String(contentsOf: logURL, encoding: .utf8)).map { String($0.suffix(3000)) } ?? "(no log)" }

    /// Stops the server by pid and throws when it tried to reach beyond loopback.
    func stopChecked() throws {
        if process.isRunning {
            kill(process.processIdentifier, SIGTERM)
            for _ in 0..<100 where process.isRunning { usleep(50_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
        }
        defer { network.remove() }
        try network.check(peer: "sdk_server.py")
    }
}

/// Our Streamable HTTP server on a free loopback port, in process.
struct LocalHTTPServer {
    let http: HTTPServer
    let endpoint: MCPStreamableHTTPServer
    let url: URL

    init(_ server: MCPServer, options: MCPStreamableHTTPServer.Options = .init()) throws {
        endpoint = MCPStreamableHTTPServer(server: server, options: options)
        http = HTTPServer(configuration: HTTPServerConfiguration(host: "127.0.0.1", port: 0, diagnostics: { _ in }), handler: endpoint.handler)
        let port = try http.start()
        guard let url = URL(string: "http://127.0.0.1:\(port)\(options.path)") else { throw PeerFailure( "no URL") }
        self.url = url
    }
}

/// Why a peer of these tests could not be used.
struct PeerFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
