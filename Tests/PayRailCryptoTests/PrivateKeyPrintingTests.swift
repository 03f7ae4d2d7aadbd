import Foundation
import PayRailCrypto
import Testing

/// Private keys must never show their secret bytes in text, debug output or `dump`.
@Suite("Private keys do not print their secrets")
struct PrivateKeyPrintingTests {
    private func printedForms(_ value: Any) -> [String] {
        var dumped = ""
        dump(value, to: &dumped)
        return ["\(value)", String(reflecting: value), dumped]
    }

    private func expectAbsent(_ secret: [UInt8], in forms: [String], sourceLocation: SourceLocation = #_sourceLocation) {
        let spellings = [Base64URL.encode(secret), Base64.encode(secret), secret.map { String(format: "%02x", $0) }.joined(),
                         "\(secret)"]
        for form in forms {
            for spelling in spellings {
                #expect(!form.contains(spelling), "secret printed in: \(form.prefix(200))", sourceLocation: sourceLocation)
            }
        }
    }

    @Test("Ed25519, P-256 and secp256k1 private keys")
    func keys() throws {
        let ed = try Ed25519.PrivateKey()
        expectAbsent(ed.rawRepresentation, in: printedForms(ed))
        #expect("\(ed)".contains(Base64URL.encode(ed.publicKey.rawRepresentation)))
        let p256 = try P256.PrivateKey()
        expectAbsent(p256.rawRepresentation, in: printedForms(p256))
        let k1 = try Secp256k1.PrivateKey()
        expectAbsent(k1.rawRepresentation, in: printedForms(k1))
    }
}
