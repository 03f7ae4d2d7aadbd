// libFuzzer entry point for every PayRail wire parser.
//
// One binary serves every target so that one build covers them all; `PAYRAIL_FUZZ_TARGET` picks
// the parser (read once, on the first input). Built by `scripts/fuzz` with
// `-sanitize=fuzzer,address -DPAYRAIL_LIBFUZZER`, libFuzzer supplies `main`. In an ordinary
// `swift build` the same file compiles into a replay tool instead (`wire-fuzz TARGET FILE...`), so
// the harness is type-checked with the rest of the package and cannot rot between fuzzing runs; the
// replay tool also builds the seed corpora (`wire-fuzz --make-seeds`, Seeds.swift).
//
// Every parser here must be total: it may throw, never trap. A trap, an ASan report or a broken
// round-trip property below is a finding.

import Foundation
import PayRailCrypto
import PayRailWire

/// One fuzzing target: a name for `PAYRAIL_FUZZ_TARGET` and the code that feeds it one input.
struct FuzzTarget: Sendable {
    let name: String
    let run: @Sendable ([UInt8]) -> Void
}

/// Header parsers take `String`; invalid UTF-8 is repaired exactly as a server's HTTP layer would.
func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

/// Stops the process so libFuzzer (or the replay tool) records the input; used for broken
/// properties, which are bugs even though nothing trapped.
func fail(_ message: String) -> Never {
    print("wire-fuzz: property broken: \(message)")
    fatalError(message)
}

/// Every target. Adding a parser is one line here (plus its seed group in `SeedMaker.run`).
let fuzzTargets: [FuzzTarget] = [
    FuzzTarget(name: "auth-challenges") { _ = try? AuthParameters.parseChallenges(text($0)) },
    FuzzTarget(name: "auth-credentials") { _ = try? AuthParameters.parseCredentials(text($0)) },
    FuzzTarget(name: "payment-credential") { _ = try? PaymentCredential.parse(text($0)) },
    FuzzTarget(name: "payment-challenges") { _ = try? PaymentChallenge.parseAll(text($0)) },
    FuzzTarget(name: "charge-request") { _ = try? ChargeRequest.decode(text($0)) },
    FuzzTarget(name: "payment-receipt") { _ = try? PaymentReceipt.parse(text($0)) },
    FuzzTarget(name: "payment-timestamp") { _ = try? PaymentTimestamp.parse(text($0)) },
    FuzzTarget(name: "x402-payment-required") { _ = try? X402Codec.decodePaymentRequired(text($0)) },
    FuzzTarget(name: "x402-payment-signature") { _ = try? X402Codec.decodePaymentSignature(text($0)) },
    FuzzTarget(name: "x402-payment-response") { _ = try? X402Codec.decodePaymentResponse(text($0)) },
    FuzzTarget(name: "x402-v1-payment-required") { _ = try? X402Codec.decodeVersion1PaymentRequired(body: $0) },
    FuzzTarget(name: "x402-v1-payment") { _ = try? X402Codec.decodeVersion1Payment(text($0)) },
    FuzzTarget(name: "x402-v1-payment-response") { _ = try? X402Codec.decodeVersion1PaymentResponse(text($0)) },
    FuzzTarget(name: "macaroon-binary", run: fuzzMacaroon),
    FuzzTarget(name: "l402-challenge") { _ = try? L402Challenge.parse(text($0)) },
    FuzzTarget(name: "l402-credential") { _ = try? L402Credential.parse(authorization: text($0)) },
    FuzzTarget(name: "l402-caveat") { _ = try? L402Caveat(parsing: text($0)) },
    FuzzTarget(name: "jcs", run: fuzzCanonicalJSON),
    FuzzTarget(name: "json-object-reader", run: fuzzObjectReader),
    FuzzTarget(name: "base64url", run: fuzzBase64URL),
    FuzzTarget(name: "base64", run: fuzzBase64),
    FuzzTarget(name: "accept-payment") { _ = try? AcceptPayment.parse(text($0)) },
    FuzzTarget(name: "problem-details") { _ = try? ProblemDetails.parse($0) },
    FuzzTarget(name: "plain-challenge") { _ = try? PlainChallenge.parse(body: $0, receivedAt: fuzzClock) },
    FuzzTarget(name: "plain-receipt") { _ = try? PlainReceipt.parse(text($0)) },
    FuzzTarget(name: "response-reader", run: fuzzResponseReader),
    FuzzTarget(name: "bolt11-decode", run: fuzzBolt11Decode),
    FuzzTarget(name: "bolt11-fields", run: fuzzBolt11Fields),
]

/// A fixed "now" (2023-11-14T22:13:20Z, the fixtures' issue time), so the fixture offers are still
/// valid and the run is reproducible.
let fuzzClock = Date(timeIntervalSince1970: 1_700_000_000)

/// The request the fixture response's x402 offers bind, so binding checks pass and deeper code runs.
let fuzzRequest = X402RequestBinding.http(method: "GET", url: "https://api.example.com/article/A", body: [], headers: [])

/// An agent reads raw response bytes, then every dialect in them; reading never throws, and a response
/// that is not a 402 yields no offers.
@Sendable func fuzzResponseReader(_ bytes: [UInt8]) {
    guard let response = try? PaymentResponseReader.parseHTTPResponse(bytes) else { return }
    let reading = PaymentResponseReader.read(
        status: response.status, headers: response.headers, body: response.body, receivedAt: fuzzClock, expectedRequest: fuzzRequest
    )
    if response.status != 402, !reading.offers.isEmpty { fail("a \(response.status) response yielded offers") }
}

/// A macaroon that parses must survive writing and re-reading unchanged.
@Sendable func fuzzMacaroon(_ bytes: [UInt8]) {
    guard let macaroon = try? Macaroon(binaryV2: bytes) else { return }
    guard let again = try? Macaroon(binaryV2: macaroon.binaryV2) else { fail("a parsed macaroon does not re-parse") }
    if again != macaroon { fail("a macaroon changed across binaryV2 serialization") }
}

/// Canonical JSON is a fixed point: canonicalizing canonical bytes changes nothing.
@Sendable func fuzzCanonicalJSON(_ bytes: [UInt8]) {
    guard let canonical = try? CanonicalJSON.canonicalize(bytes) else { return }
    guard let again = try? CanonicalJSON.canonicalize(canonical) else { fail("canonical JSON does not re-parse") }
    if again != canonical { fail("canonicalization is not idempotent") }
}

/// The member reader must agree with the full parser on which objects are acceptable.
@Sendable func fuzzObjectReader(_ bytes: [UInt8]) {
    var names: [String] = []
    let readerAccepted: Bool
    do throws(CanonicalJSONError) {
        try JSONObjectReader.read(bytes) { (reader: inout JSONObjectReader) throws(CanonicalJSONError) in
            while let name = try reader.nextMember() {
                names.append(reader.text(of: name))
                _ = try reader.value()
            }
        }
        readerAccepted = true
    } catch {
        readerAccepted = false
    }
    let parsed = try? CanonicalJSON.parse(bytes)
    var parserAcceptedObject = false
    if case .object = parsed { parserAcceptedObject = true }
    if readerAccepted != parserAcceptedObject {
        fail("JSONObjectReader accepted=\(readerAccepted) but CanonicalJSON.parse object=\(parserAcceptedObject)")
    }
}

/// The strict decoder accepts exactly one spelling per byte string (padding aside).
@Sendable func fuzzBase64URL(_ bytes: [UInt8]) {
    let input = text(bytes)
    guard let decoded = try? Base64URL.decode(input) else { return }
    if Base64URL.encode(decoded) != String(input.reversed().drop { $0 == "=" }.reversed()) {
        fail("base64url accepted a non-canonical spelling")
    }
}

/// Standard base64 is lenient only about missing padding.
@Sendable func fuzzBase64(_ bytes: [UInt8]) {
    let input = text(bytes)
    guard let decoded = try? Base64.decode(input) else { return }
    let unpadded = { (s: String) in String(s.reversed().drop { $0 == "=" }.reversed()) }
    if unpadded(Base64.encode(decoded)) != unpadded(input) {
        fail("base64 accepted a non-canonical spelling")
    }
}

/// Looks the target up by name; the message lists the names so a typo is easy to fix.
func target(named name: String?) -> FuzzTarget {
    let known = fuzzTargets.map(\.name).joined(separator: " ")
    guard let name, let found = fuzzTargets.first(where: { $0.name == name }) else {
        print("wire-fuzz: set PAYRAIL_FUZZ_TARGET to one of: \(known)")
        fatalError("unknown fuzz target \(name ?? "(unset)")")
    }
    return found
}

#if PAYRAIL_LIBFUZZER
import Glibc

/// Read once: libFuzzer calls the entry point millions of times.
let selectedTarget: FuzzTarget = {
    let name = getenv("PAYRAIL_FUZZ_TARGET").map { String(cString: $0) }
    return target(named: name)
}()

/// The libFuzzer entry point.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    selectedTarget.run(bytes)
    return 0
}

/// libFuzzer's public driver (`int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*cb)(const
/// uint8_t *, size_t))`). Declared here rather than in a C header because the package keeps C out of
/// everything but the OpenSSL shim; every argument is a pointer, passed identically by both
/// conventions on the platforms we fuzz on.
@_silgen_name("LLVMFuzzerRunDriver")
func runFuzzerDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ testOneInput: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

/// SwiftPM links executables with `main` defined as `<Module>_main`, which overrides libFuzzer's own
/// `main`; so this is the process entry point, and it hands control to libFuzzer's driver.
@_cdecl("WireFuzz_main")
public func wireFuzzMain(
    _ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
) -> CInt {
    var count = argc
    var arguments = argv
    return runFuzzerDriver(&count, &arguments) { data, size in fuzzOneInput(data, size) }
}
#else
/// Replays saved inputs (for example `Fuzz/crashes/*`) through one target without libFuzzer.
@main
enum WireFuzzReplay {
    static func main() {
        let arguments = CommandLine.arguments.dropFirst()
        if arguments.first == "--make-seeds" { exit(SeedMaker.run(Array(arguments.dropFirst()))) }
        guard let name = arguments.first else {
            print("usage: wire-fuzz TARGET FILE...   targets: \(fuzzTargets.map(\.name).joined(separator: " "))")
            print("       wire-fuzz --make-seeds REPO_ROOT OUT_DIR TARGET...")
            return
        }
        let chosen = target(named: name)
        for path in arguments.dropFirst() {
            guard let data = FileManager.default.contents(atPath: path) else {
                print("wire-fuzz: cannot read \(path)")
                continue
            }
            chosen.run(Array(data))
            print("wire-fuzz: \(name) \(path): no crash")
        }
    }
}
#endif
