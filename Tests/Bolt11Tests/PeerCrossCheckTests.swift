import Bolt11
import Foundation
import PayRailCrypto
import PayRailTestPeers
import Testing

/// Our codec against the PyPI `bolt11` library (Peers/bolt11_peer.py), in both directions.
@Suite("BOLT 11 against the PyPI bolt11 library") struct PeerCrossCheckTests {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Peers").appendingPathComponent("bolt11_peer.py")

    /// An invoice in the peer script's `describe` shape, so both readings compare key by key.
    static func describe(_ invoice: Bolt11Invoice) -> [String: Any] {
        [
            "network": invoice.network.rawValue,
            "amount_msat": invoice.amountMsat.map { NSNumber(value: $0) } ?? NSNull(),
            "timestamp": invoice.timestamp,
            "payment_hash": hex(invoice.paymentHash),
            "payment_secret": hex(invoice.paymentSecret),
            "description": invoice.descriptionText ?? NSNull(),
            "description_hash": invoice.descriptionHash.map(hex) ?? NSNull(),
            "expiry": invoice.expirySeconds,
            "min_final_cltv_expiry": invoice.minFinalCLTVExpiryDelta,
            "payee": hex(invoice.payeeKey),
            "metadata": invoice.metadata.map(hex) ?? NSNull(),
            "features": invoice.features.bits.sorted(),
            "fallbacks": invoice.fallbackAddresses.map { ["version": Int($0.version), "program": hex($0.program)] as [String: Any] },
            "route_hints": invoice.routeHints.map { hint in
                hint.hops.map { hop in
                    [
                        "pubkey": hex(hop.nodeKey), "short_channel_id": hop.shortChannelIDText,
                        "fee_base_msat": Int(hop.feeBaseMsat), "fee_proportional_millionths": Int(hop.feeProportionalMillionths),
                        "cltv_expiry_delta": Int(hop.cltvExpiryDelta),
                    ] as [String: Any]
                }
            },
        ]
    }

    /// One value as canonical JSON text, so NSNumber, Int and NSNull compare by what they say.
    static func canonical(_ value: Any?) -> String {
        guard let value else { return "<missing>" }
        guard let data = try? JSONSerialization.data(withJSONObject: [value], options: [.sortedKeys, .fragmentsAllowed]) else {
            return "<not JSON: \(value)>"
        }
        return String(decoding: data, as: UTF8.self)
    }

    static func expectSameReading(_ ours: [String: Any], _ theirs: [String: Any], _ invoice: String) {
        #expect(Set(ours.keys) == Set(theirs.keys))
        for key in ours.keys.sorted() {
            #expect(canonical(ours[key]) == canonical(theirs[key]), "\(key) differs for \(invoice)")
        }
    }

    static func lines(_ output: String) throws -> [[String: Any]] {
        try output.split(separator: "\n").map { line in
            try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        }
    }

    @Test func invoicesTheLibraryWritesDecodeAsTheLibraryReadsThem() throws {
        let output = try PythonPeer.run(Self.script, ["generate", "200", "20261125"])
        let generated = try Self.lines(output)
        #expect(generated.count == 200)
        var sawAmountless = false, sawPico = false, sawPayee = false, sawRoutes = false, sawFallback = false, sawUnknownOdd = false
        for entry in generated {
            let text = try #require(entry["invoice"] as? String)
            let expected = try #require(entry["expected"] as? [String: Any])
            let invoice: Bolt11Invoice
            do { invoice = try Bolt11Invoice.decode(text) } catch {
                Issue.record("refused \(text): \(error)")
                continue
            }
            Self.expectSameReading(Self.describe(invoice), expected, text)
            // The upper-case form (QR codes) reads the same.
            #expect(try Bolt11Invoice.decode(text.uppercased()) == invoice)
            sawAmountless = sawAmountless || invoice.amountMsat == nil
            sawPico = sawPico || text.split(separator: "1").first?.hasSuffix("p") == true
            sawPayee = sawPayee || invoice.hasExplicitPayeeKey
            sawRoutes = sawRoutes || invoice.routeHints.count > 1
            sawFallback = sawFallback || !invoice.fallbackAddresses.isEmpty
            sawUnknownOdd = sawUnknownOdd || invoice.features.bits.contains { $0 > 49 }
        }
        // The sample really covers the shapes it is meant to.
        #expect(sawAmountless && sawPico && sawPayee && sawRoutes && sawFallback && sawUnknownOdd)
    }

    @Test func specVectorsReadTheSameInTheLibrary() throws {
        let texts = try SpecVectors.names("valid").map { try #require(try SpecVectors.load("valid", $0)["invoice"] as? String) }
        let theirs = try Self.lines(try PythonPeer.run(Self.script, ["decode"], input: Data(texts.joined(separator: "\n").utf8)))
        #expect(theirs.count == 16)
        for (text, reading) in zip(texts, theirs) {
            var ours = Self.describe(try Bolt11Invoice.decode(text))
            if let fallbacks = ours["fallbacks"] as? [[String: Any]] { ours["fallbacks"] = Array(fallbacks.prefix(1)) }
            Self.expectSameReading(ours, reading, text)
        }
    }

    @Test func invoicesWeWriteDecodeInTheLibraryAsWeMeantThem() throws {
        var generator = SystemRandomNumberGenerator()
        var texts: [String] = []
        var ours: [[String: Any]] = []
        for index in 0..<150 {
            let key = try Secp256k1.PrivateKey()
            let draft = RandomDrafts.make(index: index, using: &generator)
            let text = try draft.encode(signingWith: key)
            let decoded = try Bolt11Invoice.decode(text)
            #expect(decoded.payeeKey == key.publicKey.compressedRepresentation)
            texts.append(text)
            ours.append(Self.describe(decoded))
        }
        let theirs = try Self.lines(try PythonPeer.run(Self.script, ["decode"], input: Data(texts.joined(separator: "\n").utf8)))
        #expect(theirs.count == texts.count)
        for (index, reading) in theirs.enumerated() where index < texts.count {
            if let error = reading["error"] {
                Issue.record("the library refused \(texts[index]): \(error)")
                continue
            }
            var mine = ours[index]
            // The library keeps only the first fallback; compare that one.
            if let fallbacks = mine["fallbacks"] as? [[String: Any]] { mine["fallbacks"] = Array(fallbacks.prefix(1)) }
            Self.expectSameReading(mine, reading, texts[index])
        }
    }
}

/// Random drafts covering every field, for the round-trip and reverse cross-check tests.
enum RandomDrafts {
    static func bytes(_ count: Int, using generator: inout some RandomNumberGenerator) -> [UInt8] {
        (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }

    static func make(index: Int, using generator: inout some RandomNumberGenerator) -> Bolt11InvoiceDraft {
        let amounts: [Int64?] = [
            nil, Int64.random(in: 1...999, using: &generator), Int64.random(in: 1...1_000_000, using: &generator) * 100,
            Int64.random(in: 1...1_000_000, using: &generator) * 100_000, Int64.random(in: 1...21_000_000, using: &generator) * 100_000_000_000,
            Int64.random(in: 1...2_100_000_000_000_000_000, using: &generator),
        ]
        var fields: [Bolt11Field] = [
            .paymentHash(bytes(32, using: &generator)), .paymentSecret(bytes(32, using: &generator)),
            index % 2 == 0 ? .description(String(repeating: "ナンセンス 1杯 ", count: index % 7) + "item \(index)")
                : .descriptionHash(bytes(32, using: &generator)),
        ]
        if index % 3 != 0 { fields.append(.expiry(Int64.random(in: 1...(1 << 40), using: &generator))) }
        if index % 4 != 0 { fields.append(.minFinalCLTVExpiryDelta(Int64.random(in: 1...5000, using: &generator))) }
        if index % 5 == 1 { fields.append(.payeeKey) }
        if index % 3 == 1 {
            let shapes: [(UInt8, Int)] = [(0, 20), (0, 32), (1, 32), (17, 20), (18, 20)]
            let shape = shapes[index % shapes.count]
            fields.append(.fallbackAddress(Bolt11FallbackAddress(version: shape.0, program: bytes(shape.1, using: &generator))))
        }
        for _ in 0..<(index % 4) {
            let hops = (0...(index % 3)).map { _ in
                Bolt11RouteHop(
                    nodeKey: [UInt8.random(in: 2...3, using: &generator)] + bytes(32, using: &generator),
                    shortChannelID: UInt64.random(in: 0...UInt64.max, using: &generator),
                    feeBaseMsat: UInt32.random(in: 0...UInt32.max, using: &generator),
                    feeProportionalMillionths: UInt32.random(in: 0...UInt32.max, using: &generator),
                    cltvExpiryDelta: UInt16.random(in: 0...UInt16.max, using: &generator))
            }
            fields.append(.routeHint(Bolt11RouteHint(hops: hops)))
        }
        // One bit per feature at most: the library reads a feature as required or supported, not both.
        var bits = Set<Int>()
        for even in [8, 14, 16, 24, 36, 48] where Bool.random(using: &generator) { bits.insert(even + Int.random(in: 0...1, using: &generator)) }
        if bits.contains(16) || bits.contains(17), !bits.contains(14) { bits.insert(15) }
        if index % 2 == 1 { bits.insert(2 * Int.random(in: 25...60, using: &generator) + 1) }
        fields.append(.features(Bolt11Features(bits: bits)))
        if index % 3 == 2 { fields.append(.metadata(bytes(Int.random(in: 1...40, using: &generator), using: &generator))) }
        fields.shuffle(using: &generator)
        return Bolt11InvoiceDraft(
            network: Bolt11Network.allCases[index % 4], amountMsat: amounts[index % amounts.count],
            timestamp: Int64.random(in: 0..<(1 << 35), using: &generator), fields: fields)
    }
}
