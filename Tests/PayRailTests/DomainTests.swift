import Foundation
import Testing
@testable import PayRail

@Suite("Domain types")
struct DomainTests {
    @Test("rail ids accept lowercase letters, digits and dashes only", arguments: ["fake", "lightning", "stripe", "my-rail2", "a"])
    func validRailIDs(name: String) throws {
        #expect(try RailID(name).rawValue == name)
    }

    @Test("rail ids refuse other spellings", arguments: ["", "Lightning", "2fast", "-x", "my rail", "rail_1", "é", String(repeating: "a", count: 33)])
    func invalidRailIDs(name: String) {
        #expect(throws: RailIDError.self) { try RailID(name) }
    }

    @Test("rail ids decode only when valid")
    func railIDCodable() throws {
        #expect(try JSONDecoder().decode(RailID.self, from: Data(#""stripe""#.utf8)) == .stripe)
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(RailID.self, from: Data(#""Stripe""#.utf8)) }
    }

    @Test("resources are METHOD /path")
    func resources() throws {
        let resource = try Resource(parsing: "GET /reports/42?full=1")
        #expect(resource.method == "GET")
        #expect(resource.path == "/reports/42?full=1")
        #expect(resource.description == "GET /reports/42?full=1")
        for bad in ["get /x", "GET x", "GET  /x", "GET /a b", "/x", "GET", "GET /x\n"] {
            #expect(throws: ResourceError.self) { try Resource(parsing: bad) }
        }
    }

    @Test("a charge needs a challenge id, and with(amount:) changes only the amount")
    func charges() throws {
        let resource = try Resource(parsing: "POST /jobs")
        let expiry = Date(timeIntervalSince1970: 2_000_000_000)
        #expect(throws: ChargeError.self) {
            try Charge(amount: .zero(.sat), resource: resource, expiresAt: expiry, challengeID: "")
        }
        let charge = try Charge(
            amount: Money(amount: 10, unit: .sat), resource: resource, description: "a job", expiresAt: expiry,
            challengeID: "ch_1", bodyDigest: "sha-256=:abc=:")
        let changed = charge.with(amount: try Money(amount: 20, unit: .usd))
        #expect(changed.amount == (try Money(amount: 20, unit: .usd)))
        #expect(changed.resource == charge.resource)
        #expect(changed.challengeID == "ch_1")
        #expect(changed.bodyDigest == charge.bodyDigest)
        #expect(changed.description == "a job")
        #expect(changed.expiresAt == expiry)
    }

    @Test("a credential never prints its payload values")
    func credentialRedaction() {
        let secret = "5f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"
        let credential = Credential(rail: .lightning, offerID: "hash", payload: ["preimage": secret], payerID: "agent")
        #expect(!"\(credential)".contains(secret))
        #expect(!String(reflecting: credential).contains(secret))
        var dumped = ""
        dump(credential, to: &dumped)
        #expect(!dumped.contains(secret))
        #expect("\(credential)".contains("preimage"))
    }

    @Test("a quote's total is amount plus fee in one unit")
    func quotes() throws {
        let quote = try Quote(amount: Money(amount: 100, unit: .sat), fee: Money(amount: 3, unit: .sat), feeKind: .maximum)
        #expect(quote.total == (try Money(amount: 103, unit: .sat)))
        #expect(throws: MoneyError.self) {
            try Quote(amount: Money(amount: 100, unit: .sat), fee: Money(amount: 3, unit: .msat), feeKind: .exact)
        }
        #expect(Quote.free(try Money(amount: 5, unit: .usd)).total == (try Money(amount: 5, unit: .usd)))
        let decoded = try JSONDecoder().decode(Quote.self, from: JSONEncoder().encode(quote))
        #expect(decoded == quote)
        let forged = #"{"amount":{"amount":"100","unit":"sat"},"fee":{"amount":"3","unit":"sat"},"feeKind":"maximum","total":{"amount":"1","unit":"sat"}}"#
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(Quote.self, from: Data(forged.utf8)) }
    }

    @Test("a price needs at least one rail")
    func prices() throws {
        #expect(throws: PriceError.self) { try Price([:]) }
        let price = try Price([.stripe: Money(amount: 5, unit: .usd), .lightning: Money(amount: 100, unit: .sat)])
        #expect(price.rails == [.lightning, .stripe])
        #expect(price.amount(on: .fake) == nil)
        #expect(price.amount(on: .lightning) == (try Money(amount: 100, unit: .sat)))
    }

    @Test("every built-in error code has default advice it permits, and says what to do next")
    func retryAdvice() {
        let codes: [RailError.Code] = [
            .declined, .insufficientFunds, .expired, .timedOut, .unavailable, .malformed, .alreadySettled,
            .mismatch, .unsupported, .invalidProof,
        ]
        for code in codes {
            #expect(code.permittedAdvice.contains(code.defaultAdvice), "\(code)")
            let error = RailError(code, "because", rail: .fake)
            #expect(error.retry == code.defaultAdvice)
            #expect(error.description.contains(code.nextStep))
            #expect(error.description.contains(error.retry.description))
            #expect(error.description.hasPrefix("fake \(code.rawValue): because"))
        }
        #expect(RailError.Code.unavailable.defaultAdvice == .safe)
        #expect(RailError.Code.timedOut.defaultAdvice == .afterLookup)
        #expect(RailError.Code.alreadySettled.defaultAdvice == .unsafe)
        #expect(!RailError.Code.declined.permittedAdvice.contains(.safe))
        let custom = RailError.Code(rawValue: "rateLimited")
        #expect(custom.permittedAdvice.count == 3)
        #expect(RailError(custom, "slow down", retry: .safe).retry == .safe)
    }

    @Test("capabilities refuse units and amounts outside their limits")
    func capabilities() throws {
        let limits = try [
            AmountLimit(minimum: Money(amount: 1, unit: .sat), maximum: Money(amount: 1000, unit: .sat)),
            AmountLimit(minimum: Money(amount: 50, unit: .usd), maximum: Money(amount: 99_999, unit: .usd)),
        ]
        let capabilities = RailCapabilities(limits: limits, settlementTime: .seconds(1), refundable: false, feeModel: .free)
        #expect(capabilities.units == [.sat, .usd])
        try capabilities.check(Money(amount: 1, unit: .sat), rail: .fake)
        try capabilities.check(Money(amount: 1000, unit: .sat), rail: .fake)
        for amount in [try Money(amount: 0, unit: .sat), try Money(amount: 1001, unit: .sat),
                       try Money(amount: 49, unit: .usd), try Money(amount: 10, unit: .eur)] {
            #expect(throws: RailError.self) { try capabilities.check(amount, rail: .fake) }
            do {
                try capabilities.check(amount, rail: .fake)
            } catch {
                #expect(error.code == .unsupported)
                #expect(error.rail == .fake)
            }
        }
        #expect(throws: MoneyError.self) {
            try AmountLimit(minimum: Money(amount: 2, unit: .sat), maximum: Money(amount: 1, unit: .sat))
        }
        #expect(throws: MoneyError.self) {
            try AmountLimit(minimum: Money(amount: 1, unit: .sat), maximum: Money(amount: 2, unit: .msat))
        }
    }

    @Test("receipt claims carry the amount as a minor-unit string")
    func receiptClaims() throws {
        let settlement = Settlement(
            rail: .stripe, offerID: "pi_123", reference: "pi_123", amount: try Money(amount: 150, unit: .usd),
            settledAt: Date(timeIntervalSince1970: 1_700_000_000))
        let claims = try ReceiptClaims(
            settlement: settlement, issuer: "api.example", resource: Resource(parsing: "GET /data"),
            challengeID: "ch_9", issuedAt: Date(timeIntervalSince1970: 1_700_000_000.9), grantSeconds: 300)
        #expect(claims.iss == "api.example")
        #expect(claims.sub == "GET /data")
        #expect(claims.jti == "ch_9")
        #expect(claims.iat == 1_700_000_000)
        #expect(claims.exp == 1_700_000_300)
        #expect(claims.method == "stripe")
        #expect(claims.amount == "150")
        #expect(claims.currency == "usd")
        #expect(claims.ref == "pi_123")
        #expect(try claims.money() == Money(amount: 150, unit: .usd))
        #expect(claims.isValid(at: Date(timeIntervalSince1970: 1_700_000_299)))
        #expect(!claims.isValid(at: Date(timeIntervalSince1970: 1_700_000_300)))

        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json = String(decoding: try encoder.encode(claims), as: UTF8.self)
        #expect(json.contains(#""amount":"150""#))
        #expect(json.contains(#""exp":1700000300"#))

        let extra = #"{"iss":"a","sub":"GET /x","jti":"j","iat":1,"exp":2,"method":"fake","amount":"5","currency":"sat","ref":"r","nbf":0,"cnf":{"k":1}}"#
        let decoded = try JSONDecoder().decode(ReceiptClaims.self, from: Data(extra.utf8))
        #expect(decoded.amount == "5")
        let numeric = #"{"iss":"a","sub":"GET /x","jti":"j","iat":1,"exp":2,"method":"fake","amount":5,"currency":"sat","ref":"r"}"#
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(ReceiptClaims.self, from: Data(numeric.utf8)) }
    }

    @Test("receipt claims refuse an empty issuer, an empty challenge or a non-positive grant")
    func receiptClaimsErrors() throws {
        let settlement = Settlement(
            rail: .fake, offerID: "o", reference: "r", amount: .zero(.sat), settledAt: Date(timeIntervalSince1970: 0))
        let resource = try Resource(parsing: "GET /x")
        let now = Date(timeIntervalSince1970: 1_700_000_000)
        #expect(throws: ReceiptClaimsError.self) {
            try ReceiptClaims(settlement: settlement, issuer: "", resource: resource, challengeID: "c", issuedAt: now, grantSeconds: 1)
        }
        #expect(throws: ReceiptClaimsError.self) {
            try ReceiptClaims(settlement: settlement, issuer: "i", resource: resource, challengeID: "", issuedAt: now, grantSeconds: 1)
        }
        #expect(throws: ReceiptClaimsError.self) {
            try ReceiptClaims(settlement: settlement, issuer: "i", resource: resource, challengeID: "c", issuedAt: now, grantSeconds: 0)
        }
        #expect(throws: ReceiptClaimsError.self) {
            try ReceiptClaims(settlement: settlement, issuer: "i", resource: resource, challengeID: "c", issuedAt: now, grantSeconds: Int64.max)
        }
    }

    @Test("the manual clock moves only when told")
    func manualClock() {
        let clock = ManualClock(start: Date(timeIntervalSince1970: 100))
        #expect(clock.now() == Date(timeIntervalSince1970: 100))
        clock.advance(by: 5)
        #expect(clock.now() == Date(timeIntervalSince1970: 105))
        clock.set(to: Date(timeIntervalSince1970: 7))
        #expect(clock.now() == Date(timeIntervalSince1970: 7))
    }
}

@Suite("Domain review fixes")
struct DomainReviewTests {
    @Test("a price decodes only with at least one rail, like init(_:)")
    func priceDecodingKeepsInvariant() throws {
        let price = try Price([.fake: Money(amount: 100, unit: .sat)])
        let data = try JSONEncoder().encode(price)
        #expect(try JSONDecoder().decode(Price.self, from: data) == price)
        // `[RailID: Money]` is encoded as a flat key/value array; an empty one is an empty dictionary.
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(Price.self, from: Data(#"{"amounts":[]}"#.utf8))
        }
    }
}
