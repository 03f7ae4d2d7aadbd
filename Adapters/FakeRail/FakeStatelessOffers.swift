import Foundation
import PayRail
import PayRailCrypto

// Stateless fake offers (issue 18, "Stateless 402s"): the gate mints a bound offer id carrying the
// challenge and its terms (`BoundOfferToken`), and the fake rail uses it as the processor request id
// without asking the processor anything, so issuing a 402 writes nothing anywhere. The processor
// learns of such a request only when a payer pays it: it reads the terms from the id and collects
// exactly that amount, for that payee, before that expiry. It does not check the gate's MAC (not its
// secret): a payer who alters the terms pays a request the gate will never grant, which costs only
// that payer, and the gate refuses the credential before any redemption.

extension FakePayeeRail: StatelessOfferRail {
    /// The payee account every offer pays.
    public var statelessPayee: String { account.accountID }

    /// The offer under the bound id: the charge's amount, this payee, the charge's expiry in whole
    /// seconds (the voucher's precision), and the details `prepare` writes.
    public func statelessOffer(_ charge: Charge, boundID: String) throws(RailError) -> Offer {
        try capabilities.check(charge.amount, rail: id)
        let expiry = Date(timeIntervalSince1970: charge.expiresAt.timeIntervalSince1970.rounded(.down))
        return Offer(
            rail: id, amount: charge.amount, payee: account.accountID, expiresAt: expiry, id: boundID,
            details: [
                "requestID": boundID,
                "processorKey": processorKeyText,
                "challengeID": charge.challengeID,
            ])
    }
}

extension FakeProcessor {
    /// The request a bound offer id describes, when it is one, for an account this processor holds,
    /// and its expiry is within the lifetime the processor allows from now (a token claiming a far
    /// expiry would hold funds longer than any request may).
    func boundRequest(_ requestID: String) -> FakeRequestState? {
        guard let token = BoundOfferToken(requestID), requestState(requestID) == nil else { return nil }
        let terms = token.terms
        let expiry = Date(timeIntervalSince1970: terms.expiresAt.timeIntervalSince1970.rounded(.down))
        guard hasAccount(terms.payee), expiry.timeIntervalSince(now()) <= Self.maximumRequestLifetime else { return nil }
        let record = FakePaymentRequest(id: requestID, payee: terms.payee, amount: terms.amount, expiresAt: expiry,
                                        challengeID: terms.challengeID)
        return FakeRequestState(record: record)
    }
}
