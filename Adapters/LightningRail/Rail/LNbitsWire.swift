import Foundation

// The JSON shapes of LNbits 1.6.2's REST API as observed on a live instance (see
// Tests/LightningRailTests/Fixtures/lnbits-*.json). Only the fields the backend uses are decoded, so
// LNbits adding fields never breaks it.

/// `POST /api/v1/payments` body that creates an invoice. Amount in whole satoshis (LNbits truncates a
/// fractional amount silently, so the backend never sends one).
struct LNbitsCreateInvoiceBody: Encodable {
    let out = false
    let amount: Int64
    let memo: String?
    let descriptionHash: String?
    let expiry: Int

    private enum CodingKeys: String, CodingKey {
        case out, amount, memo, expiry
        case descriptionHash = "description_hash"
    }
}

/// `POST /api/v1/payments` body that pays an invoice (the admin key is required).
struct LNbitsPayBody: Encodable {
    let out = true
    let bolt11: String

    private enum CodingKeys: String, CodingKey { case out, bolt11 }
}

/// A payment row: the answer to create and pay, and `details` in a status answer.
struct LNbitsPayment: Decodable {
    let paymentHash: String
    let bolt11: String
    /// Millisatoshi; positive for an incoming invoice, negative for an outgoing payment.
    let amount: Int64
    /// Millisatoshi; LNbits stores an outgoing fee as a negative number.
    let fee: Int64
    /// `pending`, `success` or `failed`.
    let status: String
    let preimage: String?
    let updatedAt: String?

    private enum CodingKeys: String, CodingKey {
        case bolt11, amount, fee, status, preimage
        case paymentHash = "payment_hash"
        case updatedAt = "updated_at"
    }
}

/// `GET /api/v1/payments/{hash}`: `details` appears only when the key belongs to the payment's wallet.
struct LNbitsPaymentStatus: Decodable {
    let paid: Bool
    let status: String?
    let preimage: String?
    let details: LNbitsPayment?
}

/// `GET /api/v1/wallet`.
struct LNbitsWallet: Decodable {
    /// Millisatoshi, despite the name.
    let balance: Int64
}

/// `GET /api/v1/payments/fee-reserve?invoice=...`.
struct LNbitsFeeReserve: Decodable {
    let feeReserve: Int64

    private enum CodingKeys: String, CodingKey { case feeReserve = "fee_reserve" }
}

/// An error answer: `detail` is a string (HTTPException, 520 payment errors) or a list of pydantic
/// validation errors (400); 520 answers also carry `status` (`failed`, `pending` or `success`).
struct LNbitsErrorBody: Decodable {
    let detail: String
    let status: String?

    private enum CodingKeys: String, CodingKey { case detail, status, error }

    private struct ValidationItem: Decodable {
        let loc: [LocationPart]?
        let msg: String
    }

    private enum LocationPart: Decodable, CustomStringConvertible {
        case name(String), index(Int)
        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let index = try? container.decode(Int.self) { self = .index(index) } else { self = .name(try container.decode(String.self)) }
        }
        var description: String {
            switch self {
            case .name(let name): return name
            case .index(let index): return String(index)
            }
        }
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        status = try container.decodeIfPresent(String.self, forKey: .status)
        if let text = try? container.decode(String.self, forKey: .detail) {
            detail = text
        } else if let items = try? container.decode([ValidationItem].self, forKey: .detail) {
            detail = items.map { item in
                let location = (item.loc ?? []).filter { $0.description != "body" }.map(\.description).joined(separator: ".")
                return location.isEmpty ? item.msg : "\(location): \(item.msg)"
            }.joined(separator: "; ")
        } else if let text = try? container.decode(String.self, forKey: .error) {
            // slowapi's 429 answer: {"error": "Rate limit exceeded: 200 per 1 minute"}.
            detail = text
        } else {
            detail = "no detail"
        }
    }
}
