import Foundation
import PayRailTestPeers
import Testing

// Issue 16 proof point: every Python peer the tests start runs on loopback with its outbound lookups
// off, and a test fails if a peer it starts tries to reach anything but loopback. These tests prove
// the guard (PeerNetworkGuard, applied by PythonPeer and LNbitsPeer) sees such attempts, and that
// LNbits, with the settings LNbitsPeer gives it, makes none.

@Suite("test peers stay on loopback (issue 16)", .serialized)
struct PeerNetworkGuardTests {
    /// Tries `target`, swallowing the refusal, and exits 0: the guard's record alone must fail it.
    static let reacher = #"""
import socket
import sys
kind, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
try:
    if kind == "connect":
        socket.create_connection((host, port), timeout=2).close()
    elif kind == "connect_ex":
        s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        s.settimeout(2)
        print("connect_ex", s.connect_ex((host, port)))
    elif kind == "udp":
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"x", (host, port))
    elif kind == "lookup":
        socket.getaddrinfo(host, port)
except OSError as error:
    print("refused:", error)
print("done")
"""#

    private func run(_ arguments: [String]) throws -> String {
        try PythonPeer.run(source: Self.reacher, name: "reacher.py", arguments)
    }

    private func failure(_ arguments: [String]) -> String? {
        do {
            _ = try run(arguments)
            return nil
        } catch {
            return String(describing: error)
        }
    }

    @Test("a peer connecting to 192.0.2.1 fails the run, naming the destination, even when it swallows the refusal")
    func nonLoopbackConnectFails() throws {
        let message = try #require(failure(["connect", "192.0.2.1", "80"]), "the guard let a connection to 192.0.2.1 pass")
        #expect(message.contains("reacher.py tried to reach beyond loopback"))
        // create_connection looks the address up first: the guard refuses there, before any socket.
        #expect(message.contains("getaddrinfo 192.0.2.1:80") || message.contains("connect 192.0.2.1:80"), "\(message)")
    }

    @Test("connect_ex, UDP datagrams and name lookups beyond loopback are caught too", arguments: [
        (["connect_ex", "192.0.2.1", "443"], "connect_ex 192.0.2.1:443"),
        (["connect_ex", "2001:db8::1", "443"], "connect_ex 2001:db8::1:443"),
        (["udp", "192.0.2.1", "53"], "sendto 192.0.2.1:53"),
        (["lookup", "example.com", "443"], "getaddrinfo example.com:443"),
    ])
    func otherCallsFail(_ arguments: [String], _ recorded: String) throws {
        let message = try #require(failure(arguments), "the guard let \(arguments) pass")
        #expect(message.contains(recorded), "\(message)")
    }

    @Test("loopback by address or by name passes")
    func loopbackPasses() throws {
        for arguments in [["connect", "127.0.0.1", "9"], ["connect", "::1", "9"], ["lookup", "localhost", "80"], ["connect_ex", "127.0.0.1", "9"]] {
            let output = try run(arguments)
            #expect(output.contains("done"), "\(arguments): \(output)")
        }
    }

    @Test("uvloop, whose sockets the guard cannot see, cannot be imported by a peer")
    func uvloopRefused() throws {
        let output = try PythonPeer.run(source: """
        try:
            import uvloop
            print("imported")
        except ImportError as error:
            print("refused:", error)
        """, name: "uvloop_probe.py", [])
        #expect(output.contains("refused: uvloop is disabled"), "\(output)")
    }

    @Test("LNbits with LNbitsPeer's settings reaches nothing beyond loopback while it starts and serves")
    func lnbitsStaysOnLoopback() async throws {
        let lnbits = try await LNbitsPeer.start()
        defer { lnbits.stop() }
        let payee = try await lnbits.createWallet(name: "payee")
        let payer = try await lnbits.createWallet(name: "payer")
        try await lnbits.fund(payer, sats: 100)
        #expect(try await lnbits.balanceMsat(payer) == 100_000)
        _ = payee
        // Its start-up tasks (prices, extension catalogues) run in the first seconds: give them time.
        try await Task.sleep(for: .seconds(8))
        #expect(lnbits.network.attempts().isEmpty, "\(lnbits.network.attempts())")
        try lnbits.stopChecked()
    }

    @Test("without those settings the guard catches LNbits' lookups, and the peer fails the test listing them")
    func lnbitsLookupsAreCaught() async throws {
        let message: String
        do {
            // An attempt during start-up already fails the first-install request.
            let lnbits = try await LNbitsPeer.start(outboundLookups: true)
            defer { lnbits.stop() }
            let deadline = ContinuousClock.now + .seconds(60)
            while lnbits.network.attempts().isEmpty, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(250)) }
            do {
                try lnbits.stopChecked()
                Issue.record("stopChecked passed although LNbits ran with its lookups on")
                return
            } catch {
                message = String(describing: error)
            }
        } catch {
            message = String(describing: error)
        }
        #expect(message.contains("tried to reach beyond loopback"), "\(message)")
        #expect(message.contains("price.lnbits.com") || message.contains("raw.githubusercontent.com"), "\(message)")
    }
}
