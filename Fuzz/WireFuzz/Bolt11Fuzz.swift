// The BOLT 11 decoder's fuzz targets. `bolt11-decode` feeds raw text, as a payer pasting an invoice
// would; almost every mutation breaks the bech32 checksum there, so `bolt11-fields` repairs the
// checksum of whatever it is given first, letting the fuzzer reach the amount, the tagged fields and
// the signature checks behind it.

import Bolt11
import Foundation

/// What every accepted invoice must satisfy, whatever the input was.
func checkAcceptedInvoice(_ invoice: Bolt11Invoice, from input: String) {
    if invoice.paymentHash.count != 32 || invoice.paymentSecret.count != 32 { fail("a hash or secret is not 32 bytes") }
    if invoice.payeeKey.count != 33 { fail("the payee key is not 33 bytes") }
    if (invoice.descriptionText == nil) == (invoice.descriptionHash == nil) { fail("not exactly one of d and h") }
    if invoice.features.firstUnknownRequiredBit != nil { fail("an unknown even feature bit was accepted") }
    if let amount = invoice.amountMsat, amount <= 0 { fail("a non-positive amount was accepted") }
    if invoice.signature.count != 64 || !(0...3).contains(invoice.recoveryID) { fail("a malformed signature was accepted") }
    // Upper case is the same invoice (QR codes use it).
    guard let upper = try? Bolt11Invoice.decode(input.uppercased()) else { fail("the upper-case form is refused") }
    if upper != invoice { fail("the upper-case form decodes differently") }
}

/// Raw text straight into the decoder.
@Sendable func fuzzBolt11Decode(_ bytes: [UInt8]) {
    let input = text(bytes)
    guard let invoice = try? Bolt11Invoice.decode(input) else { return }
    checkAcceptedInvoice(invoice, from: input)
}

/// The text's human-readable part and data characters, re-encoded with a valid checksum.
@Sendable func fuzzBolt11Fields(_ bytes: [UInt8]) {
    let input = text(bytes).lowercased()
    guard let separator = input.lastIndex(of: "1") else { return }
    let hrp = String(input[..<separator])
    guard !hrp.isEmpty, hrp.utf8.allSatisfy({ $0 >= 0x21 && $0 <= 0x7E }) else { return }
    let words = input[input.index(after: separator)...].utf8.compactMap { Bech32.alphabet.firstIndex(of: $0).map(UInt8.init) }
    let repaired = Bech32.encode(hrp: hrp, words: words)
    guard let invoice = try? Bolt11Invoice.decode(repaired) else { return }
    checkAcceptedInvoice(invoice, from: repaired)
}
