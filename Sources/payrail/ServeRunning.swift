import Dispatch
import Foundation
import PayRailHTTP
import PayRailServer
import PayRailStore
#if canImport(Glibc)
import Glibc
#endif

/// Who hosts the gate `ServeCommand.start` builds: `payrail serve`, or `payrail mcp proxy`, which
/// serves its MCP endpoint beside the reserved routes and logs to stderr (stdout may be its channel).
struct ServeHost: Sendable {
    /// The command's name, at the start of every log line.
    var name: String
    /// Receives one line per event; never a secret.
    var log: @Sendable (String) -> Void
    /// A route served beside the reserved ones (the MCP endpoint), before the paywall.
    var extraRoute: ServeExtraRoute? = nil
    /// Whether other requests reach the paywalled resource; `false` answers them 404, so prices meant
    /// for MCP tools are never charged over plain HTTP.
    var servesResource: Bool = true
    /// How a price rule is shown in the start-up lines.
    var describePrice: @Sendable (PricingRule) -> String = { "\($0)" }
}

/// A route `ServeContext` answers before the paywall: one exact path, every method.
struct ServeExtraRoute: Sendable {
    /// The path (`/mcp`).
    var path: String
    /// What answers it.
    var handler: HTTPHandler
}

/// A started gate and its HTTP server, until `stop`.
///
/// `@unchecked`: every member is Sendable but the signal sources, which Dispatch makes safe to use
/// from any thread and which are only kept alive here.
struct ServeRunning: @unchecked Sendable {
    let gate: Gate
    /// The bound origin (`http://127.0.0.1:PORT`).
    let origin: String
    let server: HTTPServer
    let store: any GateStore & PaymentEventStore & ClosableStore
    let maintenance: Task<Void, Never>
    let signals: AsyncStream<Int32>
    let signalSources: [any DispatchSourceSignal]
    let host: ServeHost

    /// Returns at the first SIGTERM or SIGINT, logging which, or when the calling task is cancelled
    /// (then nothing is logged: the caller stops for its own reason).
    func waitForSignal() async {
        var received: Int32?
        for await number in signals {
            received = number
            break
        }
        guard let received else { return }
        host.log("\(host.name): signal \(received == SIGINT ? "SIGINT" : "SIGTERM"), shutting down")
    }

    /// Stops maintenance, lets in-flight requests finish (up to 10 s) and closes the store.
    func stop() async {
        maintenance.cancel()
        await server.shutdown(grace: .seconds(10))
        await store.close()
        withExtendedLifetime(signalSources) {}
        host.log("\(host.name): stopped")
    }
}
