// The wire codecs (x402 lnbtc, L402, the plain dialect and the agent-side response reader) read
// invoices with the Bolt11 module's `Bolt11SignedInvoice` (form and signature; no payment-secret or
// single-description rule, which a vetting party must not impose) and add the wire's own limits
// here: 4096 characters before any work, and an expiry below 2^50 seconds (at most 10 words, as the
// wire always required). The lnbtc rules (exactly one `h`, no `d`, currency, amount, creation time,
// expiry, payTo = signing key) stay with the x402 codec (X402Rails.swift), which reads the fields
// this reader exposes. Bolt11 errors become `WireError` codes the wire's callers already handle.

import Bolt11

/// The wire's entry points to the Bolt11 module, with its errors mapped to `WireError`.
enum WireBolt11 {
    /// Invoices longer than this are refused before any work (a real one is well under 1 KB).
    static let maximumLength = 4096

    /// Reads an invoice for the wire: form and signature checked, `maximumLength` enforced first.
    ///
    /// - Throws: `.tooLarge` above `maximumLength`; `.bindingMismatch` when the signature does not
    ///   verify (against `n`, or recovers no key); `.malformed` for everything else.
    static func read(_ text: String) throws(WireError) -> Bolt11SignedInvoice {
        guard text.utf8.count <= maximumLength else {
            throw WireError(.tooLarge, "a BOLT11 invoice over \(maximumLength) characters is refused")
        }
        let invoice: Bolt11SignedInvoice
        do { invoice = try Bolt11SignedInvoice.read(text) } catch { throw wireError(error) }
        // 10 words is 50 bits: the bound the wire always kept, so `expiresAtUnix` arithmetic and the
        // Date conversions the codecs do stay far from overflow. An empty `x` field (expiry 0) was
        // refused as a bad length before; it still is.
        guard invoice.expirySeconds >= 1, invoice.expirySeconds < 1 << 50 else {
            throw WireError(.malformed, "a BOLT11 expiry field has a bad length")
        }
        return invoice
    }

    /// Reads the human-readable part (lower case, `ln` + currency + optional amount) into the
    /// currency and the amount in millisatoshi (`nil` when amountless); the currency is not judged.
    ///
    /// - Throws: `.malformed` for a prefix that is not `ln` + letters or an amount that is not a
    ///   positive number without leading zeros, a whole millisatoshi, within 64 bits.
    static func parsePrefix(_ humanReadablePart: String) throws(WireError) -> (currency: String, amountMsat: Int64?) {
        do { return try Bolt11Invoice.splitHumanReadablePart(humanReadablePart) } catch { throw wireError(error) }
    }

    /// The PayRail Lightning network name of a BOLT11 currency prefix, or `nil` for an unknown one.
    static func networkName(currency: String) -> String? { Bolt11Network(currencyPrefix: currency)?.rawValue }

    /// A false signature is a binding failure (the invoice is not the payee's); anything else about
    /// an invoice the reader refuses is malformed input. Neither is worth retrying.
    private static func wireError(_ error: Bolt11Error) -> WireError {
        switch error.code {
        case .invalidSignature: return WireError(.bindingMismatch, "the BOLT11 signature does not verify: \(error.reason)")
        case .unknownNetwork, .unknownRequiredFeature:
            // `Bolt11SignedInvoice.read` raises neither; kept apart so a change there is not misfiled.
            return WireError(.unsupported, "the BOLT11 invoice is refused (\(error.code)): \(error.reason)")
        default: return WireError(.malformed, "the BOLT11 invoice is refused (\(error.code)): \(error.reason)")
        }
    }
}

extension Bolt11SignedInvoice {
    /// The PayRail Lightning network name of this invoice, or `nil` for an unknown currency.
    var networkName: String? { network?.rawValue }

    /// The payment hash as 64 lowercase hex digits.
    var paymentHashHex: String { X402Syntax.hex(paymentHash) }

    /// The payee node key as 66 lowercase hex digits.
    var payeeKeyHex: String { X402Syntax.hex(payeeKey) }
}
