import Foundation
import PayRail

// The executable form of the rail contract. Every rail adapter's test target runs it before the
// rail ships; a rail that passes can be plugged into the gate and the agent without surprises.
// The checks talk only through the public `PayeeRail`/`PayerRail` API, so they apply to a rail
// backed by a real peer (LNbits, localstripe) exactly as to the in-process fake processor.

/// The reusable contract checks for a payee rail and the payer rail that pays it.
///
/// Each check prepares its own offers from `makeCharge`, so checks are independent; `runAll()` runs
/// them all and collects every violation.
public struct RailContractSuite: Sendable {
    /// The individual rules, runnable one by one (e.g. one test per check).
    public enum Check: String, CaseIterable, Sendable, CustomStringConvertible {
        /// `prepare` gives an offer that matches the charge.
        case prepareMatchesCharge
        /// The payer quotes a prepared offer as payable, total >= amount.
        case quoteIsPayable
        /// `pay` then `settle` gives a settlement of the right amount and offer id.
        case payThenSettle
        /// Settling the same credential again is `.alreadySettled`; `settlement(of:)`, where the rail
        /// supports it, finds nothing before and exactly the settlement after.
        case secondSettleIsRefused
        /// Many concurrent settles of one credential give exactly one settlement.
        case concurrentSettlesSettleOnce
        /// A credential for offer A is refused against offer B, and the refusal consumes nothing.
        case credentialIsBoundToItsOffer
        /// A credential with a tampered payload is refused, and the refusal consumes nothing; after
        /// settlement a forgery is still refused as one (never `.alreadySettled`).
        case tamperedCredentialIsRefused
        /// Amounts and units outside the capabilities are refused at `prepare` with `.unsupported`.
        case amountOutsideCapabilitiesIsRefused
        /// Errors carry retry advice consistent with their code and never leak the proof.
        case errorsCarryConsistentAdvice
        /// An expired offer is not paid; one paid while it was valid still settles (once) when its
        /// credential is presented after the expiry: a payment made in time is never lost.
        case expiredOfferIsRefused
        /// A rail declaring `capabilities.refundable` refunds a settlement once per key (the same key
        /// returns the same refund), never more than was paid; a refusal from any other rail is `.unsupported`.
        case refundsOnceNeverMoreThanPaid

        /// The check's name.
        public var description: String { rawValue }
    }

    /// How the suite makes an offer expire.
    public enum ExpiryHook: Sendable {
        /// Move this clock (shared with the rails) past the offer's expiry: instant and deterministic.
        case advance(ManualClock)
        /// Prepare charges from this factory (with a short expiry) and wait in real time until the
        /// suite's clock passes the offer's expiry, for rails backed by a real peer.
        case wait(makeShortCharge: @Sendable () -> Charge, maximumWait: Duration)
    }

    /// The server side under test.
    public let payee: any PayeeRail
    /// The agent side under test; it must be able to pay `payee`'s offers.
    public let payer: any PayerRail
    /// Makes a fresh, valid charge (new challenge id, expiry in the future of `clock`) on every call.
    public let makeCharge: @Sendable () -> Charge
    /// The clock the rails decide expiry with.
    public let clock: any PayRailClock
    /// How to expire an offer.
    public let expiry: ExpiryHook
    /// How many concurrent settles `concurrentSettlesSettleOnce` races.
    public let concurrentSettles: Int

    /// Creates the suite.
    ///
    /// - Parameters:
    ///   - payee: the payee rail.
    ///   - payer: a payer rail, funded enough for about 20 payments of `makeCharge`'s amount.
    ///   - makeCharge: a factory of fresh valid charges; when `expiry` is `.advance`, base the
    ///     expiry on `clock` so charges made after the clock moved are still valid.
    ///   - clock: the rails' clock.
    ///   - expiry: how to expire offers.
    ///   - concurrentSettles: racers for the at-most-once check (50 by default).
    public init(
        payee: any PayeeRail, payer: any PayerRail, makeCharge: @escaping @Sendable () -> Charge,
        clock: any PayRailClock, expiry: ExpiryHook, concurrentSettles: Int = 50
    ) {
        self.payee = payee
        self.payer = payer
        self.makeCharge = makeCharge
        self.clock = clock
        self.expiry = expiry
        self.concurrentSettles = max(2, concurrentSettles)
    }

    /// Runs one check.
    ///
    /// - Throws: the first `ContractViolation` found.
    public func run(_ check: Check) async throws(ContractViolation) {
        let probe = Probe(suite: self, check: check)
        switch check {
        case .prepareMatchesCharge: try await probe.prepareMatchesCharge()
        case .quoteIsPayable: try await probe.quoteIsPayable()
        case .payThenSettle: try await probe.payThenSettle()
        case .secondSettleIsRefused: try await probe.secondSettleIsRefused()
        case .concurrentSettlesSettleOnce: try await probe.concurrentSettlesSettleOnce()
        case .credentialIsBoundToItsOffer: try await probe.credentialIsBoundToItsOffer()
        case .tamperedCredentialIsRefused: try await probe.tamperedCredentialIsRefused()
        case .amountOutsideCapabilitiesIsRefused: try await probe.amountOutsideCapabilitiesIsRefused()
        case .errorsCarryConsistentAdvice: try await probe.errorsCarryConsistentAdvice()
        case .expiredOfferIsRefused: try await probe.expiredOfferIsRefused()
        case .refundsOnceNeverMoreThanPaid: try await probe.refundsOnceNeverMoreThanPaid()
        }
    }

    /// Runs every check in declaration order (expiry last, since it may move a shared clock).
    ///
    /// - Returns: every violation found; empty when the rail honours the contract.
    public func runAll() async -> [ContractViolation] {
        var violations: [ContractViolation] = []
        for check in Check.allCases {
            do {
                try await run(check)
            } catch {
                violations.append(error)
            }
        }
        return violations
    }
}

// MARK: - The checks

/// One check's run: carries the check name into every violation it raises.
private struct Probe: Sendable {
    let suite: RailContractSuite
    let check: RailContractSuite.Check

    var railID: RailID { suite.payee.id }

    func violation(_ rule: String, _ detail: String) -> ContractViolation {
        ContractViolation(check: check, rule: rule, detail: detail)
    }

    // MARK: Steps that must succeed

    func prepare(_ charge: Charge? = nil) async throws(ContractViolation) -> Offer {
        let charge = charge ?? suite.makeCharge()
        do {
            return try await suite.payee.prepare(charge)
        } catch {
            throw violation("prepare of a valid charge succeeds", "prepare(\(charge.amount)) threw \(error)")
        }
    }

    func pay(_ offer: Offer) async throws(ContractViolation) -> Credential {
        do {
            return try await suite.payer.pay(offer)
        } catch {
            throw violation("pay of a fresh offer succeeds", "pay(\(offer.id)) threw \(error)")
        }
    }

    func settle(_ credential: Credential, _ offer: Offer, _ rule: String) async throws(ContractViolation) -> Settlement {
        do {
            return try await suite.payee.settle(credential, for: offer)
        } catch {
            throw violation(rule, "settle(\(offer.id)) threw \(error)")
        }
    }

    // MARK: Refusals

    /// Requires `body` to fail with one of `codes`, with consistent advice and no leaked secret.
    func expectRefusal<T>(
        _ rule: String, codes: Set<RailError.Code>, secrets: [String] = [],
        _ body: () async throws(RailError) -> T
    ) async throws(ContractViolation) -> RailError {
        let outcome: Result<T, RailError>
        do throws(RailError) {
            outcome = .success(try await body())
        } catch {
            outcome = .failure(error)
        }
        guard case .failure(let error) = outcome else {
            throw violation(rule, "the operation succeeded")
        }
        guard codes.contains(error.code) else {
            let expected = codes.map(\.rawValue).sorted().joined(separator: " or ")
            throw violation(rule, "expected \(expected), got \(error.code): \(error)")
        }
        try checkWellFormed(error, secrets: secrets)
        return error
    }

    /// The rules every `RailError` must follow.
    func checkWellFormed(_ error: RailError, secrets: [String]) throws(ContractViolation) {
        guard error.code.permittedAdvice.contains(error.retry) else {
            throw violation(
                "retry advice is consistent with the error code",
                "\(error.code) carries advice \(error.retry.rawValue)")
        }
        guard !error.reason.isEmpty else {
            throw violation("errors explain themselves", "\(error.code) has an empty reason")
        }
        if let rail = error.rail, rail != railID {
            throw violation("errors name the rail that failed", "error names \(rail), rail is \(railID)")
        }
        let text = error.description + " " + String(reflecting: error)
        for secret in secrets where secret.count >= 8 && text.contains(secret) {
            throw violation("errors never contain a secret", "\(error.code) description contains a credential value")
        }
    }

    static func secrets(of credential: Credential) -> [String] {
        Array(credential.payload.values)
    }

    // MARK: prepareMatchesCharge

    func prepareMatchesCharge() async throws(ContractViolation) {
        let charge = suite.makeCharge()
        let offer = try await prepare(charge)
        let rule = "prepare gives an offer matching the charge"
        guard offer.rail == railID else { throw violation(rule, "offer rail \(offer.rail), payee rail \(railID)") }
        guard offer.amount == charge.amount else {
            throw violation(rule, "offer amount \(offer.amount), charge amount \(charge.amount)")
        }
        guard offer.expiresAt <= charge.expiresAt else {
            throw violation(rule, "offer expires \(offer.expiresAt), after the charge's \(charge.expiresAt)")
        }
        guard offer.expiresAt > suite.clock.now() else {
            throw violation(rule, "offer already expired at \(offer.expiresAt)")
        }
        guard !offer.payee.isEmpty else { throw violation(rule, "offer payee is empty") }
        guard !offer.id.isEmpty else { throw violation(rule, "offer id is empty") }
        let other = try await prepare()
        guard other.id != offer.id else {
            throw violation("every prepare gives a distinct offer id", "two charges both got offer id \(offer.id)")
        }
    }

    // MARK: quoteIsPayable

    func quoteIsPayable() async throws(ContractViolation) {
        let offer = try await prepare()
        let rule = "the payer quotes a fresh offer as payable, total >= amount"
        guard suite.payer.id == offer.rail else {
            throw violation(rule, "payer rail \(suite.payer.id) cannot pay a \(offer.rail) offer")
        }
        switch await suite.payer.quote(offer) {
        case .refused(let error):
            throw violation(rule, "quote refused: \(error)")
        case .payable(let quote):
            guard quote.amount == offer.amount else {
                throw violation(rule, "quote amount \(quote.amount), offer amount \(offer.amount)")
            }
            guard let comparison = try? quote.total.compare(offer.amount), comparison >= 0 else {
                throw violation(rule, "quote total \(quote.total) is not >= \(offer.amount)")
            }
        }
    }

    // MARK: payThenSettle

    func payThenSettle() async throws(ContractViolation) {
        let offer = try await prepare()
        let credential = try await pay(offer)
        let rule = "pay then settle gives a settlement of the offer"
        guard credential.rail == offer.rail, credential.offerID == offer.id else {
            throw violation(rule, "credential names \(credential.rail)/\(credential.offerID), offer is \(offer.rail)/\(offer.id)")
        }
        guard !credential.payload.isEmpty else { throw violation(rule, "credential payload is empty") }
        let settlement = try await settle(credential, offer, rule)
        guard settlement.rail == railID, settlement.offerID == offer.id else {
            throw violation(rule, "settlement names \(settlement.rail)/\(settlement.offerID), offer is \(railID)/\(offer.id)")
        }
        guard settlement.amount == offer.amount else {
            throw violation(rule, "settled \(settlement.amount), offer asked \(offer.amount)")
        }
        guard !settlement.reference.isEmpty else { throw violation(rule, "settlement reference is empty") }
        for secret in Self.secrets(of: credential) where secret.count >= 8 && settlement.reference.contains(secret) {
            throw violation("a settlement reference is never the proof", "reference contains a credential value")
        }
    }

    // MARK: secondSettleIsRefused

    func secondSettleIsRefused() async throws(ContractViolation) {
        let offer = try await prepare()
        try await expectLookup(of: offer, toFind: nil, "an offer not yet settled looks up as nil")
        let credential = try await pay(offer)
        let first = try await settle(credential, offer, "the first settle succeeds")
        try await expectLookup(of: offer, toFind: first, "a settled offer looks up as the settlement settle returned")
        _ = try await expectRefusal(
            "settling the same credential again is alreadySettled", codes: [.alreadySettled],
            secrets: Self.secrets(of: credential)
        ) { () async throws(RailError) in try await suite.payee.settle(credential, for: offer) }
    }

    /// Checks `settlement(of:)`: a rail that cannot look up says `.unsupported`; one that can must
    /// answer exactly what `settle` returned, so a server that lost its record grants the same payment.
    private func expectLookup(of offer: Offer, toFind expected: Settlement?, _ rule: String) async throws(ContractViolation) {
        let found: Settlement?
        do throws(RailError) {
            found = try await suite.payee.settlement(of: offer)
        } catch {
            if error.code == .unsupported { return }
            throw violation(rule, "settlement(of:) failed with \(error.code): \(error)")
        }
        guard found == expected else {
            throw violation(rule, "settlement(of:) answered \(found.map { "\($0.reference) \($0.amount)" } ?? "nil")")
        }
    }

    // MARK: concurrentSettlesSettleOnce

    func concurrentSettlesSettleOnce() async throws(ContractViolation) {
        let offer = try await prepare()
        let credential = try await pay(offer)
        let payee = suite.payee
        let outcomes = await withTaskGroup(of: Result<Settlement, RailError>.self) { group in
            for _ in 0..<suite.concurrentSettles {
                group.addTask {
                    do throws(RailError) {
                        return .success(try await payee.settle(credential, for: offer))
                    } catch {
                        return .failure(error)
                    }
                }
            }
            var all: [Result<Settlement, RailError>] = []
            for await outcome in group { all.append(outcome) }
            return all
        }
        let rule = "\(suite.concurrentSettles) concurrent settles of one credential give exactly one settlement"
        var successes = 0
        for outcome in outcomes {
            switch outcome {
            case .success: successes += 1
            case .failure(let error):
                guard error.code == .alreadySettled else {
                    throw violation(rule, "a racer failed with \(error.code) instead of alreadySettled: \(error)")
                }
                try checkWellFormed(error, secrets: Self.secrets(of: credential))
            }
        }
        guard successes == 1 else { throw violation(rule, "\(successes) settles succeeded") }
    }

    // MARK: credentialIsBoundToItsOffer

    func credentialIsBoundToItsOffer() async throws(ContractViolation) {
        let offerA = try await prepare()
        let offerB = try await prepare()
        let credentialA = try await pay(offerA)
        let secrets = Self.secrets(of: credentialA)
        let refused: Set<RailError.Code> = [.mismatch, .invalidProof]
        _ = try await expectRefusal(
            "a credential for offer A is refused against offer B", codes: refused, secrets: secrets
        ) { () async throws(RailError) in try await suite.payee.settle(credentialA, for: offerB) }
        let relabelled = Credential(
            rail: credentialA.rail, offerID: offerB.id, payload: credentialA.payload, payerID: credentialA.payerID)
        _ = try await expectRefusal(
            "A's proof relabelled with B's offer id is refused against B", codes: refused, secrets: secrets
        ) { () async throws(RailError) in try await suite.payee.settle(relabelled, for: offerB) }
        _ = try await settle(credentialA, offerA, "a refused presentation elsewhere does not consume offer A")
        let credentialB = try await pay(offerB)
        _ = try await settle(credentialB, offerB, "a refused presentation against offer B does not consume it")
    }

    // MARK: tamperedCredentialIsRefused

    func tamperedCredentialIsRefused() async throws(ContractViolation) {
        let offer = try await prepare()
        let credential = try await pay(offer)
        let secrets = Self.secrets(of: credential)
        let refused: Set<RailError.Code> = [.invalidProof, .mismatch, .malformed]
        for key in credential.payload.keys.sorted() {
            guard let value = credential.payload[key], let tampered = Self.tamper(value) else { continue }
            var payload = credential.payload
            payload[key] = tampered
            let forged = Credential(rail: credential.rail, offerID: credential.offerID, payload: payload, payerID: credential.payerID)
            _ = try await expectRefusal(
                "a credential with a tampered \"\(key)\" is refused", codes: refused, secrets: secrets + [tampered]
            ) { () async throws(RailError) in try await suite.payee.settle(forged, for: offer) }
        }
        let empty = Credential(rail: credential.rail, offerID: credential.offerID, payload: [:], payerID: credential.payerID)
        _ = try await expectRefusal(
            "a credential with an empty payload is refused", codes: [.malformed, .invalidProof], secrets: secrets
        ) { () async throws(RailError) in try await suite.payee.settle(empty, for: offer) }
        _ = try await settle(credential, offer, "refused forgeries do not consume the offer")
        // Once settled, a forgery must still be refused as a forgery: servers treat `.alreadySettled`
        // as "this is the payment behind the offer" and grant its payer again.
        for key in credential.payload.keys.sorted() {
            guard let value = credential.payload[key], let tampered = Self.tamper(value) else { continue }
            var payload = credential.payload
            payload[key] = tampered
            let forged = Credential(rail: credential.rail, offerID: credential.offerID, payload: payload, payerID: credential.payerID)
            _ = try await expectRefusal(
                "after settlement, a credential with a tampered \"\(key)\" is refused, not alreadySettled", codes: refused,
                secrets: secrets + [tampered]
            ) { () async throws(RailError) in try await suite.payee.settle(forged, for: offer) }
        }
    }

    /// Changes one character near the middle into another of the same class (hex stays hex, base64url
    /// stays base64url), so the forgery is well formed and only the proof check can catch it.
    static func tamper(_ value: String) -> String? {
        var characters = Array(value)
        guard !characters.isEmpty else { return nil }
        let isHex = characters.allSatisfy { $0.isHexDigit && !$0.isUppercase }
        let middle = characters.count / 2
        let order = [middle] + Array(middle..<characters.count) + Array(0..<middle).reversed()
        for index in order {
            let character = characters[index]
            let alphabet: [Character]
            if isHex {
                alphabet = Array("0123456789abcdef")
            } else if character.isASCII, character.isNumber {
                alphabet = Array("0123456789")
            } else if character.isASCII, character.isLowercase {
                alphabet = Array("abcdefghijklmnopqrstuvwxyz")
            } else if character.isASCII, character.isUppercase {
                alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
            } else {
                continue
            }
            guard let position = alphabet.firstIndex(of: character) else { continue }
            characters[index] = alphabet[(position + 1) % alphabet.count]
            return String(characters)
        }
        return value + "0"
    }

    // MARK: amountOutsideCapabilitiesIsRefused

    func amountOutsideCapabilitiesIsRefused() async throws(ContractViolation) {
        let base = suite.makeCharge()
        let capabilities = suite.payee.capabilities
        var probes: [Money] = []
        for limit in capabilities.limits {
            if limit.maximum.amount < Int64.max, let above = try? Money(amount: limit.maximum.amount + 1, unit: limit.unit) {
                probes.append(above)
            }
            if limit.minimum.amount > 0, let below = try? Money(amount: limit.minimum.amount - 1, unit: limit.unit) {
                probes.append(below)
            }
        }
        let candidates: [MoneyUnit] = [.sat, .msat, .usd, .eur, .jpy, (try? MoneyUnit(code: "kwd")) ?? .gbp]
        if let foreign = candidates.first(where: { capabilities.limit(for: $0) == nil }),
           let amount = try? Money(amount: 100, unit: foreign) {
            probes.append(amount)
        }
        guard !probes.isEmpty else {
            throw violation("capabilities can be probed", "the rail accepts every unit and amount; declare real limits")
        }
        for amount in probes {
            let charge = base.with(amount: amount)
            _ = try await expectRefusal(
                "prepare refuses \(amount), outside the capabilities, with unsupported", codes: [.unsupported]
            ) { () async throws(RailError) in try await suite.payee.prepare(charge) }
        }
        if let first = capabilities.limits.first {
            _ = try await prepare(base.with(amount: first.minimum))
        }
    }

    // MARK: errorsCarryConsistentAdvice

    func errorsCarryConsistentAdvice() async throws(ContractViolation) {
        let offer = try await prepare()
        let other = try await prepare()
        let credential = try await pay(offer)
        let secrets = Self.secrets(of: credential)
        let wrongRail = Credential(
            rail: (try? RailID("contract-suite-other")) ?? .fake, offerID: offer.id, payload: credential.payload)
        var seen: [RailError] = []
        seen.append(try await expectRefusal(
            "a credential of another rail is refused", codes: [.mismatch, .malformed, .unsupported], secrets: secrets
        ) { () async throws(RailError) in try await suite.payee.settle(wrongRail, for: offer) })
        seen.append(try await expectRefusal(
            "a credential for another offer is refused", codes: [.mismatch, .invalidProof], secrets: secrets
        ) { () async throws(RailError) in try await suite.payee.settle(credential, for: other) })
        _ = try await settle(credential, offer, "the genuine credential settles")
        seen.append(try await expectRefusal(
            "a replay is alreadySettled", codes: [.alreadySettled], secrets: secrets
        ) { () async throws(RailError) in try await suite.payee.settle(credential, for: offer) })
        for error in seen where !error.description.contains(error.code.nextStep) {
            throw violation("errors say what to do next", "\(error.code) description lacks its next step")
        }
    }

    // MARK: expiredOfferIsRefused

    func expiredOfferIsRefused() async throws(ContractViolation) {
        let paidOffer: Offer
        let unpaidOffer: Offer
        let credential: Credential
        switch suite.expiry {
        case .advance(let clock):
            paidOffer = try await prepare()
            unpaidOffer = try await prepare()
            credential = try await pay(paidOffer)
            let latest = max(paidOffer.expiresAt, unpaidOffer.expiresAt)
            clock.set(to: latest.addingTimeInterval(1))
        case .wait(let makeShortCharge, let maximumWait):
            paidOffer = try await prepare(makeShortCharge())
            unpaidOffer = try await prepare(makeShortCharge())
            credential = try await pay(paidOffer)
            let latest = max(paidOffer.expiresAt, unpaidOffer.expiresAt)
            let deadline = ContinuousClock.now.advanced(by: maximumWait)
            while suite.clock.now() <= latest {
                guard ContinuousClock.now < deadline else {
                    throw violation("short charges expire", "offers still valid after waiting \(maximumWait)")
                }
                try? await Task.sleep(for: .milliseconds(100))
            }
        }
        let secrets = Self.secrets(of: credential)
        let rule = "an offer paid in time settles when its credential is presented after the expiry"
        let late: Settlement
        do { late = try await suite.payee.settle(credential, for: paidOffer) } catch {
            throw violation(rule, "refused with \(error.code): \(error.reason)")
        }
        guard late.rail == paidOffer.rail, late.offerID == paidOffer.id, late.amount == paidOffer.amount else {
            throw violation(rule, "settled \(late.amount) for \(late.offerID), not \(paidOffer.amount) for \(paidOffer.id)")
        }
        _ = try await expectRefusal("a late settlement is still made only once", codes: [.alreadySettled], secrets: secrets) {
            () async throws(RailError) in try await suite.payee.settle(credential, for: paidOffer)
        }
        switch await suite.payer.quote(unpaidOffer) {
        case .payable:
            throw violation("the payer refuses to quote an expired offer", "quote was payable")
        case .refused(let error):
            guard error.code == .expired else {
                throw violation("the payer refuses to quote an expired offer", "refused with \(error.code), not expired")
            }
            try checkWellFormed(error, secrets: [])
        }
        _ = try await expectRefusal("the payer refuses to pay an expired offer", codes: [.expired]) {
            () async throws(RailError) in try await suite.payer.pay(unpaidOffer)
        }
    }
}

// MARK: - refundsOnceNeverMoreThanPaid

extension Probe {
    func refundsOnceNeverMoreThanPaid() async throws(ContractViolation) {
        let offer = try await prepare()
        let settlement = try await settle(try await pay(offer), offer, "the first settle succeeds")
        guard suite.payee.capabilities.refundable else {
            // A rail that does not declare refunds is not asked to make one; if it refuses, it says
            // `.unsupported` with a well-formed error (a rail that can refund should declare it).
            do {
                _ = try await suite.payee.refund(settlement, amount: nil, reason: nil, idempotencyKey: "contract-1")
            } catch {
                guard error.code == .unsupported else {
                    throw violation("a rail that is not refundable refuses refunds as unsupported", "got \(error.code): \(error)")
                }
                try checkWellFormed(error, secrets: [])
            }
            return
        }
        let paid = settlement.amount
        let part = paid.amount >= 2 ? paid.amount / 2 : paid.amount
        let first = try await refund(settlement, part, key: "contract-1", "a first refund succeeds")
        let again = try await refund(settlement, part, key: "contract-1", "the same refund again returns it")
        guard again.id == first.id, again.amount == first.amount else {
            throw violation("a refund is idempotent by key", "the same key refunded twice (\(first.id), \(again.id))")
        }
        let left = paid.amount - part
        _ = try await expectRefusal("a refund above what is left is refused", codes: [.unsupported]) { () async throws(RailError) in
            let over = (try? Money(amount: left + 1, unit: paid.unit)) ?? paid
            return try await suite.payee.refund(settlement, amount: over, reason: nil, idempotencyKey: "contract-2")
        }
        if left > 0 { _ = try await refund(settlement, left, key: "contract-3", "the rest can be refunded") }
        _ = try await expectRefusal("nothing is left after a full refund", codes: [.unsupported]) { () async throws(RailError) in
            try await suite.payee.refund(settlement, amount: nil, reason: nil, idempotencyKey: "contract-4")
        }
    }

    private func refund(_ settlement: Settlement, _ minor: Int64, key: String, _ rule: String) async throws(ContractViolation) -> Refund {
        do {
            let amount = try Money(amount: minor, unit: settlement.amount.unit)
            let refund = try await suite.payee.refund(settlement, amount: amount, reason: "contract", idempotencyKey: key)
            guard refund.amount == amount, refund.rail == railID, !refund.id.isEmpty else {
                throw violation(rule, "refunded \(refund.amount) as \(refund.id) on \(refund.rail), asked \(amount)")
            }
            return refund
        } catch let violation as ContractViolation {
            throw violation
        } catch {
            throw violation(rule, "refund threw \(error)")
        }
    }
}
