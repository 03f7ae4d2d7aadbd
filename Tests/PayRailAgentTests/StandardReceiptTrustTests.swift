import Foundation
import PayRail
import PayRailStore
import PayRailWire
import Testing
@testable import PayRailAgent

/// A standard `Payment-Receipt` is marked "signed, verified" in the ledger only when the PayRail token
/// that verified names the same payment; and a receipt's identifiers cannot carry terminal escapes,
/// forged lines or megabytes into a ledger (from review of issue #16).
@Suite("Standard receipts: trust follows the verified token; identifiers are printable (issue 16)")
struct StandardReceiptTrustTests {
    static let standard = PaymentReceipt(method: "fake", timestamp: Date(timeIntervalSince1970: 1_790_000_000),
                                         reference: "pay_ref_0001", challengeId: "ch-1", receipt: "eyJ.a.b")

    static func claims(ref: String) -> ReceiptClaims {
        ReceiptClaims(iss: "seller.test", sub: "GET /premium", jti: "other-record-id", iat: 1_790_000_000, exp: 1_790_003_600,
                      method: "fake", amount: "100", currency: "sat", ref: ref)
    }

    @Test("verified only when the verified token's reference is the receipt's; a contradicting one is invalid")
    func trustFollowsTheVerifiedToken() {
        let same = PayingClient.ledgerReceipt(Self.standard, signed: true, check: .verified(Self.claims(ref: "pay_ref_0001")))
        #expect(same.trust == .verified)
        let other = PayingClient.ledgerReceipt(Self.standard, signed: true, check: .verified(Self.claims(ref: "pay_someone_else")))
        #expect(other.trust == .invalid, "a receipt the verified token contradicts was marked \(other.trust)")
    }

    @Test("a receipt whose identifiers hold control bytes, escapes or too many characters is refused",
          arguments: ["pay\u{1B}[2Jref", "pay\nref", "pay\u{7F}", String(repeating: "r", count: 513)])
    func identifiersArePrintable(_ reference: String) throws {
        var receipt = Self.standard
        receipt.reference = reference
        let value = try receipt.headerValue()
        #expect(throws: WireError.self) { try PaymentReceipt.parse(value) }
        var method = Self.standard
        method.method = reference
        let methodValue = try method.headerValue()
        #expect(throws: WireError.self) { try PaymentReceipt.parse(methodValue) }
        #expect(try PaymentReceipt.parse(try Self.standard.headerValue()).reference == "pay_ref_0001")
    }
}
