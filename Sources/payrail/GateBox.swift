import Foundation
import PayRailServer

/// The gate, set once the bound port (and so the public origin) is known.
///
/// The handler chain must exist before the server can bind, and the gate needs the origin the bind
/// gives, so the paywall reads the gate from this box on each request. Until it is set, the paywall
/// has no gate to resolve. The lock makes the one write visible to every handler thread.
final class GateBox: @unchecked Sendable {
    private let lock = NSLock()
    private var gate: Gate?

    /// Publishes the gate to the handlers.
    func set(_ gate: Gate) { lock.withLock { self.gate = gate } }
    /// The gate, or `nil` before the server is bound.
    var current: Gate? { lock.withLock { gate } }
}
