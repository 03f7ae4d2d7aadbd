import Bolt11
import Foundation
import PayRailCrypto
import Testing

/// Reads the spec's vectors from Fixtures/valid and Fixtures/invalid (see Fixtures/README.md).
enum SpecVectors {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    static func names(_ group: String) -> [String] {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: directory.appendingPathComponent(group).path)) ?? []
        return files.filter { $0.hasSuffix(".json") }.sorted()
    }

    static func load(_ group: String, _ name: String) throws -> [String: Any] {
        let data = try Data(contentsOf: directory.appendingPathComponent(group).appendingPathComponent(name))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }
}

/// Lowercase hex of bytes.
func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

@Suite("BOLT 11 spec vectors") struct SpecVectorTests {
    @Test func allVectorsArePresent() {
        #expect(SpecVectors.names("valid").count == 16)
        #expect(SpecVectors.names("invalid").count == 10)
    }

    @Test(arguments: SpecVectors.names("valid"))
    func validVectorDecodesFieldByField(_ name: String) throws {
        let expected = try SpecVectors.load("valid", name)
        let invoice = try Bolt11Invoice.decode(try #require(expected["invoice"] as? String))
        #expect(invoice.network.rawValue == expected["network"] as? String)
        #expect(invoice.amountMsat == (expected["amount_msat"] as? NSNumber)?.int64Value)
        #expect(invoice.timestamp == (expected["timestamp"] as? NSNumber)?.int64Value)
        #expect(hex(invoice.paymentHash) == expected["payment_hash"] as? String)
        #expect(hex(invoice.paymentSecret) == expected["payment_secret"] as? String)
        #expect(invoice.descriptionText == expected["description"] as? String)
        #expect(invoice.descriptionHash.map(hex) == expected["description_hash"] as? String)
        #expect(invoice.expirySeconds == (expected["expiry"] as? NSNumber)?.int64Value)
        #expect(invoice.minFinalCLTVExpiryDelta == (expected["min_final_cltv_expiry"] as? NSNumber)?.int64Value)
        if let payee = expected["payee"] as? String { #expect(hex(invoice.payeeKey) == payee) }
        #expect(invoice.metadata.map(hex) == expected["metadata"] as? String)
        #expect(invoice.features.bits.sorted() == (expected["features"] as? [Int] ?? []))
        let fallbacks = try #require(expected["fallbacks"] as? [[String: Any]])
        #expect(invoice.fallbackAddresses.map { "\($0.version):\(hex($0.program))" }
            == fallbacks.map { "\($0["version"] as? Int ?? -1):\($0["program"] as? String ?? "")" })
        let hints = try #require(expected["route_hints"] as? [[[String: Any]]])
        #expect(invoice.routeHints.count == hints.count)
        for (hint, expectedHint) in zip(invoice.routeHints, hints) {
            #expect(hint.hops.count == expectedHint.count)
            for (hop, expectedHop) in zip(hint.hops, expectedHint) {
                #expect(hex(hop.nodeKey) == expectedHop["pubkey"] as? String)
                #expect(hop.shortChannelIDText == expectedHop["short_channel_id"] as? String)
                #expect(Int(hop.feeBaseMsat) == expectedHop["fee_base_msat"] as? Int)
                #expect(Int(hop.feeProportionalMillionths) == expectedHop["fee_proportional_millionths"] as? Int)
                #expect(Int(hop.cltvExpiryDelta) == expectedHop["cltv_expiry_delta"] as? Int)
            }
        }
        if let signature = expected["signature"] as? String {
            #expect(hex(invoice.signature) == signature)
            #expect(invoice.recoveryID == expected["recovery_id"] as? Int)
        }
        #expect(invoice.expiresAt == Date(timeIntervalSince1970: TimeInterval(invoice.timestamp + invoice.expirySeconds)))
    }

    @Test(arguments: SpecVectors.names("invalid"))
    func invalidVectorIsRefusedForTheSpecsReason(_ name: String) throws {
        let vector = try SpecVectors.load("invalid", name)
        let text = try #require(vector["invoice"] as? String)
        let code = try #require(vector["code"] as? String)
        let error = try #require(throws: Bolt11Error.self) { try Bolt11Invoice.decode(text) }
        #expect(error.code.rawValue == code, "\(vector["title"] ?? name): \(error)")
    }

    @Test func highSIsAcceptedOnlyWithoutAnExplicitPayee() throws {
        // Vector 16 is valid because it has no `n` field; vector 10 (invalid) is high-S with one.
        let vector = try SpecVectors.load("valid", "16-high-s-recovery.json")
        let invoice = try Bolt11Invoice.decode(try #require(vector["invoice"] as? String))
        #expect(!invoice.hasExplicitPayeeKey)
        #expect(invoice.signature[32] > 0x7f)
        #expect(invoice.payeeKey.count == 33)
        let lowS = try Bolt11Invoice.decode(try #require(try SpecVectors.load("valid", "01-donation-any-amount.json")["invoice"] as? String))
        #expect(invoice.payeeKey != lowS.payeeKey)
    }

    @Test func expiryIsComparedWithTheGivenMoment() throws {
        let vector = try SpecVectors.load("valid", "02-coffee-one-minute.json")
        let invoice = try Bolt11Invoice.decode(try #require(vector["invoice"] as? String))
        #expect(invoice.expiresAt == Date(timeIntervalSince1970: 1_496_314_718))
        #expect(!invoice.isExpired(at: Date(timeIntervalSince1970: 1_496_314_717)))
        #expect(invoice.isExpired(at: Date(timeIntervalSince1970: 1_496_314_718)))
        #expect(invoice.amount?.amount == 250_000_000)
        #expect(invoice.amount?.unit == .msat)
    }

    @Test func lightningURIPrefixIsAccepted() throws {
        let vector = try SpecVectors.load("valid", "01-donation-any-amount.json")
        let text = try #require(vector["invoice"] as? String)
        #expect(try Bolt11Invoice.decode("lightning:" + text) == Bolt11Invoice.decode(text))
        #expect(try Bolt11Invoice.decode("LIGHTNING:" + text.uppercased()).paymentHash.count == 32)
    }
}
