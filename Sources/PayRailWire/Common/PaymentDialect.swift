/// The 402 dialects PayRail speaks; every offer read from a response is tagged with the one it came from.
public enum PaymentDialect: String, Hashable, Sendable, CaseIterable, Codable {
    /// The IETF "Payment" HTTP authentication scheme (`WWW-Authenticate: Payment ...`).
    case payment
    /// x402 version 2 (`PAYMENT-REQUIRED` header).
    case x402
    /// x402 version 1 (JSON body, `X-PAYMENT`), read only.
    case x402v1 = "x402-v1"
    /// L402 / LSAT (macaroon + Lightning invoice).
    case l402
    /// The plain JSON body of the founding article, answered with `X-Receipt`.
    case plain
}
