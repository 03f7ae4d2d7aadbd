import Foundation
import PayRail
import PayRailCrypto
import PayRailTesting
import Testing

@testable import PayRailAgent

// The README's "your own rail" example, compiled and checked here so it cannot rot: an IOU rail
// where the agent and the server share an HMAC key (a prepaid account settled monthly). Paying is
// signing the offer; settling is checking that signature, once.

/// The offers this server has settled: each at most once.
actor SettledIOUs {
    private var settled: Set<String> = []
    func claim(_ offerID: String) -> Bool { settled.insert(offerID).inserted }
}

/// What is signed: the offer's id, amount and payee, so an IOU for one offer pays no other.
/// What an IOU signs: the offer, and when it was written (so a late IOU can be told from a late presentation).
func iouMessage(_ offer: Offer, signedAt: Int64) -> [UInt8] { Array("\(offer.id)|\(offer.amount)|\(offer.payee)|\(signedAt)".utf8) }

struct IOUPayee: PayeeRail {
    let id: RailID
    let key: HMACKey
    let clock: any PayRailClock
    let settled = SettledIOUs()

    var capabilities: RailCapabilities {
        // Constant bounds in one unit: cannot fail.
        let limit = try? AmountLimit(minimum: Money(amount: 1, unit: .sat), maximum: Money(amount: 1_000_000, unit: .sat))
        return RailCapabilities(limits: limit.map { [$0] } ?? [], settlementTime: .zero, refundable: false, feeModel: .free)
    }

    func prepare(_ charge: Charge) async throws(RailError) -> Offer {
        try capabilities.check(charge.amount, rail: id)
        return Offer(rail: id, amount: charge.amount, payee: "iou-server", expiresAt: charge.expiresAt, id: charge.challengeID)
    }

    func settle(_ credential: Credential, for offer: Offer) async throws(RailError) -> Settlement {
        guard credential.rail == id, credential.offerID == offer.id else { throw RailError(.mismatch, "the IOU pays another offer", rail: id) }
        guard let text = credential.payload["iou"], let signature = try? Base64URL.decode(text),
              let signedAt = credential.payload["signedAt"].flatMap({ Int64($0) })
        else {
            throw RailError(.malformed, "the credential carries no IOU", rail: id)
        }
        guard key.isValidAuthenticationCode(signature, for: iouMessage(offer, signedAt: signedAt)) else {
            throw RailError(.invalidProof, "the IOU is not signed with the shared key", rail: id)
        }
        // Presented late is fine; written late is not.
        guard Double(signedAt) <= offer.expiresAt.timeIntervalSince1970 else { throw RailError(.expired, "the IOU was written after the offer expired", rail: id) }
        guard await settled.claim(offer.id) else { throw RailError(.alreadySettled, "this IOU was already settled", rail: id) }
        return Settlement(rail: id, offerID: offer.id, reference: "iou-\(offer.id)", amount: offer.amount, settledAt: clock.now())
    }
}

struct IOUPayer: PayerRail {
    let id: RailID
    let key: HMACKey
    let clock: any PayRailClock

    func quote(_ offer: Offer) async -> QuoteDecision {
        guard offer.rail == id else { return .refused(RailError(.unsupported, "this wallet pays \(id) offers only", rail: id)) }
        guard clock.now() <= offer.expiresAt else { return .refused(RailError(.expired, "the offer expired", rail: id)) }
        return .payable(.free(offer.amount))
    }

    func pay(_ offer: Offer) async throws(RailError) -> Credential {
        guard offer.rail == id else { throw RailError(.unsupported, "this wallet pays \(id) offers only", rail: id) }
        guard clock.now() <= offer.expiresAt else { throw RailError(.expired, "the offer expired", rail: id) }
        let signedAt = Int64(clock.now().timeIntervalSince1970.rounded(.down))
        let signature = key.authenticationCode(for: iouMessage(offer, signedAt: signedAt))
        return Credential(rail: id, offerID: offer.id, payload: ["iou": Base64URL.encode(signature), "signedAt": String(signedAt)])
    }
}

@Suite("The README's example rail") struct ExampleRailTests {
    @Test("passes the rail contract suite and is quoted through the wallet registry")
    func exampleRailHonoursTheContract() async throws {
        let clock = ManualClock()
        let rail = try RailID("iou")
        let key = try HMACKey(try SecureRandom.bytes(count: 32))
        let payee = IOUPayee(id: rail, key: key, clock: clock)
        let payer = IOUPayer(id: rail, key: key, clock: clock)
        let suite = RailContractSuite(
            payee: payee, payer: payer,
            makeCharge: {
                guard let amount = try? Money(amount: 100, unit: .sat), let resource = try? Resource(parsing: "GET /report"),
                      let charge = try? Charge(amount: amount, resource: resource, expiresAt: clock.now().addingTimeInterval(300),
                                               challengeID: UUID().uuidString)
                else { preconditionFailure("constant charge") }
                return charge
            },
            clock: clock, expiry: .advance(clock))
        let violations = await suite.runAll()
        #expect(violations.isEmpty, "\(violations)")

        var wallets = WalletRegistry()
        wallets.register(payer)
        let offer = try await payee.prepare(try Charge(amount: Money(amount: 5, unit: .sat), resource: Resource(parsing: "GET /report"),
                                                        expiresAt: clock.now().addingTimeInterval(60), challengeID: "c-1"))
        guard case .payable(let quote) = await wallets.quote(offer) else {
            Issue.record("the IOU wallet should quote its own offer")
            return
        }
        #expect(quote.total == offer.amount)
    }
}
