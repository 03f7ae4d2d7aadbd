import Foundation
import PayRail
import PayRailWire
#if canImport(Glibc)
import Glibc
#endif

/// What the ledger keeps with a reservation so a later run can finish the payment: the 402 it answers
/// (challenges are public), which offer was chosen, the request's body digest, and the process that
/// owns it. No secret: the credential goes into the record's `proof` once paid.
struct SpendContext: Codable, Sendable {
    var version = 1
    /// The call's payment identifier (the ledger id may carry an attempt suffix).
    var paymentID: String
    var dialect: String
    var offerID: String
    var rail: String
    var amount: Money
    var payee: String?
    var bodyDigest: String?
    var ownerPID: Int32
    var challengeStatus: Int
    var challengeHeaders: [[String]]
    var challengeBody: String
    var receivedAt: Date

    init(paymentID: String, offer: ReadOffer, bodyDigest: String?, challenge: PaymentAnswer, receivedAt: Date) {
        self.paymentID = paymentID
        self.dialect = offer.dialect.rawValue
        self.offerID = offer.offer.id
        self.rail = offer.offer.rail.rawValue
        self.amount = offer.offer.amount
        self.payee = offer.offer.payee
        self.bodyDigest = bodyDigest
        self.ownerPID = getpid()
        self.challengeStatus = challenge.status
        self.challengeHeaders = challenge.headers.map { [$0.name, $0.value] }
        self.challengeBody = Data(challenge.body).base64EncodedString()
        self.receivedAt = receivedAt
    }

    func encoded() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.dateEncodingStrategy = .secondsSince1970
        return (try? encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }

    static func decode(_ text: String) -> SpendContext? {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .secondsSince1970
        return try? decoder.decode(SpendContext.self, from: Data(text.utf8))
    }

    /// The offer this spend pays, read again from the stored 402 exactly as the first run read it.
    func readOffer() -> ReadOffer? {
        guard let body = Data(base64Encoded: challengeBody) else { return nil }
        let headers = HTTPFields(challengeHeaders.compactMap { $0.count == 2 ? ($0[0], $0[1]) : nil })
        let reading = PaymentResponseReader.read(status: challengeStatus, headers: headers, body: Array(body), receivedAt: receivedAt)
        return reading.offers.first { $0.dialect.rawValue == dialect && $0.offer.id == offerID && $0.offer.rail.rawValue == rail }
    }

    /// Whether the process that reserved this spend is gone (so nobody else will finish it).
    var ownerIsGone: Bool {
        if ownerPID == getpid() { return false }
        return kill(ownerPID, 0) != 0 && errno == ESRCH
    }
}

/// The credential header fields kept as a spend's proof until it is committed.
enum SpendProof {
    static func encode(_ fields: HTTPFields) -> String {
        let pairs = fields.map { [$0.name, $0.value] }
        return (try? JSONEncoder().encode(pairs)).map { String(decoding: $0, as: UTF8.self) } ?? "[]"
    }

    static func decode(_ text: String) -> HTTPFields? {
        guard let pairs = try? JSONDecoder().decode([[String]].self, from: Data(text.utf8)) else { return nil }
        return HTTPFields(pairs.compactMap { $0.count == 2 ? ($0[0], $0[1]) : nil })
    }
}
