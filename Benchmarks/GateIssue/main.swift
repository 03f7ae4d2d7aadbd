import FakeRail
import Foundation
import PayRail
import PayRailCrypto
import PayRailHTTP
import PayRailPaywall
import PayRailReceipts
import PayRailServer
import PayRailStore
import PayRailWire

// gate-issue-bench: the gate's own work for one 402, in process (no HTTP): `Gate.handle` of an
// unpaid GET on a route priced on the fake rail, configured as `payrail serve` configures it
// (stateless offers, every standard dialect, no rate limit, a log sink that keeps nothing). It prints
// the mean CPU time per 402 over the measured window, and the same for an unpriced route (the gate's floor).
// Not a test: see Benchmarks/README.md.

struct BenchFailure: Error, CustomStringConvertible {
    let description: String
}

func makeGate() async throws -> Gate {
    let key = try Ed25519.PrivateKey()
    let processor = FakeProcessor(signingKey: key)
    let merchant = try await processor.openAccount("merchant")
    let payee = FakePayeeRail(processor: processor, processorKey: key.publicKey, account: merchant)
    let signer = try ReceiptSigner(key: .ed25519(try Ed25519.PrivateKey()), keyID: "gate-1")
    let verifier = ReceiptVerifier(keys: try ReceiptKeySet(jwks: JSONWebKeySet(keys: [signer.verificationJWK])))
    let configuration = GateConfiguration(
        realm: "localhost", rails: [payee], pricing: try PricingTable(parsing: ["GET /premium=100sat"], rails: [.fake]),
        store: MemoryGateStore(), keyring: try ChallengeIDKeyring(currentSecret: try SecureRandom.bytes(count: 32)),
        signer: signer, verifier: verifier, publicOrigin: "http://127.0.0.1:8402", log: { _ in })
    return Gate(configuration: configuration)
}

/// The CPU time this process has used (every thread): steadier than wall time on a shared machine,
/// since it does not count the time other tenants hold the cores.
func processCPUNanoseconds() -> Int64 {
    var now = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now)
    return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
}

/// Mean CPU nanoseconds per `handle` of `request` over `count` calls (after `count / 10` unmeasured).
func measure(_ gate: Gate, _ request: GateRequest, count: Int, expectStatus: Int?) async throws -> Double {
    for _ in 0..<(count / 10) { _ = await gate.handle(request) }
    let start = processCPUNanoseconds()
    for _ in 0..<count {
        let decision = await gate.handle(request)
        if let expectStatus {
            guard case .respond(let response) = decision, response.status == expectStatus else {
                throw BenchFailure(description: "expected \(expectStatus), got \(decision)")
            }
        }
    }
    return Double(processCPUNanoseconds() - start) / Double(count)
}

/// Mean CPU nanoseconds per call of `handler` with `request` (after `count / 10` unmeasured).
func measure(_ handler: HTTPHandler, _ request: HTTPRequest, count: Int, expectStatus: Int) async throws -> Double {
    for _ in 0..<(count / 10) { _ = await handler(request) }
    let start = processCPUNanoseconds()
    for _ in 0..<count {
        let response = await handler(request)
        guard response.status.code == expectStatus else {
            throw BenchFailure(description: "expected \(expectStatus), got \(response.status.code)")
        }
    }
    return Double(processCPUNanoseconds() - start) / Double(count)
}

let count = CommandLine.arguments.dropFirst().first.flatMap(Int.init) ?? 20_000
// The loop runs in one task off the main actor, so that each call is not two thread hops.
let outcome = await Task.detached { () async -> String? in
  do {
    let gate = try await makeGate()
    let unpaid = GateRequest(method: "GET", path: "/premium", clientAddress: "127.0.0.1")
    let unpriced = GateRequest(method: "GET", path: "/healthz", clientAddress: "127.0.0.1")
    for round in 1...3 {
        let issue = try await measure(gate, unpaid, count: count, expectStatus: 402)
        let pass = try await measure(gate, unpriced, count: count, expectStatus: nil)
        print(String(format: "round %d: 402 %.1f us, unpriced pass %.1f us (%d calls each)", round, issue / 1000, pass / 1000, count))
    }
    let ok: HTTPHandler = { _ in HTTPResponse(headers: ["Cache-Control": "no-store"], text: "ok\n") }
    let handler = chain([Middleware.requestID(), Middleware.logging { _ in }, Paywall.middleware(gate)], handler: ok)
    let headers: HTTPHeaders = ["Host": "127.0.0.1:8402", "User-Agent": "wrk", "Accept": "*/*"]
    let unpaidHTTP = HTTPRequest(method: "GET", path: "/premium", headers: headers, clientAddress: "127.0.0.1")
    let unpricedHTTP = HTTPRequest(method: "GET", path: "/healthz", headers: headers, clientAddress: "127.0.0.1")
    for round in 1...3 {
        let issue = try await measure(handler, unpaidHTTP, count: count, expectStatus: 402)
        let pass = try await measure(handler, unpricedHTTP, count: count, expectStatus: 200)
        print(String(format: "round %d, HTTP chain: 402 %.1f us, unpriced 200 %.1f us (%d calls each)", round, issue / 1000, pass / 1000, count))
    }
    return nil
  } catch {
    return "\(error)"
  }
}.value
if let outcome {
    FileHandle.standardError.write(Data("gate-issue-bench: \(outcome)\n".utf8))
    exit(1)
}
