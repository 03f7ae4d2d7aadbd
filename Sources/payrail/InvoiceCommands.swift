import Bolt11
import Foundation
import PayRailWire

/// `payrail invoice ...`: look inside a BOLT 11 invoice before paying it or after issuing it.
enum InvoiceCommands {
    static let all: [CommandSpec] = [decode]

    static let decode = CommandSpec(
        path: ["invoice", "decode"],
        summary: "Decode and check a BOLT 11 Lightning invoice, and say whether it has expired.",
        options: [
            OptionSpec(name: "json", help: "print one JSON object instead of text"),
            OptionSpec(name: "at", valueName: "RFC3339", help: "judge expiry as of this moment (default: now)"),
        ],
        positionals: [PositionalSpec(name: "BOLT11", help: "the invoice (lnbc..., lntb..., lntbs..., lnbcrt...; upper case and a lightning: prefix are accepted)")],
        details: """
        The invoice is checked as BOLT 11 asks of a payer: bech32 checksum, network and amount, every
        tagged field, unknown required features, and the signature (against the n field when present,
        otherwise by recovering the payee key). JSON keys: network, amount_msat (absent when the
        invoice has no amount), timestamp, expiry, payment_hash, payment_secret, payee, description or
        description_hash, min_final_cltv_expiry, route_hints, features (set bit numbers), expired.
        Exit 1 with one line on stderr for an invalid invoice.
        Example:  payrail invoice decode lnbc2500u1pvjluez... --json
        """,
        run: { arguments in try run(arguments) }
    )

    private static func run(_ arguments: ParsedArguments) throws -> ExitCode {
        var moment = Date()
        if let at = arguments.value("at") {
            do { moment = try PaymentTimestamp.parse(at) } catch {
                throw CommandFailure.usage("--at must be an RFC 3339 date-time such as 2026-01-01T00:00:00Z")
            }
        }
        guard let text = arguments.positionals.first else { throw CommandFailure.usage("missing BOLT11 invoice") }
        let invoice: Bolt11Invoice
        do { invoice = try Bolt11Invoice.decode(text.trimmingCharacters(in: .whitespacesAndNewlines)) } catch {
            throw CommandFailure.refused("invalid invoice: \(error.code): \(error.reason)")
        }
        let expired = invoice.isExpired(at: moment)
        if arguments.flag("json") {
            try printJSON(invoice, expired: expired)
        } else {
            print(textLines(invoice, expired: expired).joined(separator: "\n"))
        }
        return .success
    }

    private static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    private static func hops(_ hint: Bolt11RouteHint) -> [[String: Any]] {
        hint.hops.map { hop in
            [
                "pubkey": hex(hop.nodeKey), "short_channel_id": hop.shortChannelIDText,
                "fee_base_msat": NSNumber(value: hop.feeBaseMsat),
                "fee_proportional_millionths": NSNumber(value: hop.feeProportionalMillionths),
                "cltv_expiry_delta": NSNumber(value: hop.cltvExpiryDelta),
            ]
        }
    }

    /// Foundation's writer keeps 64-bit integers exact (a JSON double would round amounts above 2^53).
    private static func printJSON(_ invoice: Bolt11Invoice, expired: Bool) throws {
        var object: [String: Any] = [
            "network": invoice.network.rawValue,
            "timestamp": NSNumber(value: invoice.timestamp),
            "expiry": NSNumber(value: invoice.expirySeconds),
            "payment_hash": hex(invoice.paymentHash),
            "payment_secret": hex(invoice.paymentSecret),
            "payee": hex(invoice.payeeKey),
            "min_final_cltv_expiry": NSNumber(value: invoice.minFinalCLTVExpiryDelta),
            "route_hints": invoice.routeHints.map(hops),
            "features": invoice.features.bits.sorted(),
            "expired": expired,
        ]
        if let amount = invoice.amountMsat { object["amount_msat"] = NSNumber(value: amount) }
        if let description = invoice.descriptionText { object["description"] = description }
        if let hash = invoice.descriptionHash { object["description_hash"] = hex(hash) }
        let data: Data
        do { data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) } catch {
            throw CommandFailure.refused("cannot print the invoice as JSON: \(error.localizedDescription)")
        }
        print(String(decoding: data, as: UTF8.self))
    }

    private static func textLines(_ invoice: Bolt11Invoice, expired: Bool) -> [String] {
        func row(_ name: String, _ value: String) -> String { name.padding(toLength: 22, withPad: " ", startingAt: 0) + value }
        var lines = [row("network", "\(invoice.network.rawValue) (ln\(invoice.network.currencyPrefix))")]
        lines.append(row("amount", invoice.amountMsat.map { "\($0) msat" } ?? "any (the invoice names no amount)"))
        lines.append(row("created", "\(PaymentTimestamp.format(invoice.createdAt)) (\(invoice.timestamp))"))
        lines.append(row("expiry", "\(invoice.expirySeconds) s, until \(PaymentTimestamp.format(invoice.expiresAt))"))
        lines.append(row("expired", expired ? "yes: do not pay" : "no"))
        lines.append(row("payment hash", hex(invoice.paymentHash)))
        lines.append(row("payment secret", hex(invoice.paymentSecret)))
        lines.append(row("payee", hex(invoice.payeeKey) + (invoice.hasExplicitPayeeKey ? " (n field)" : " (recovered from the signature)")))
        if let description = invoice.descriptionText {
            // Descriptions are payee-chosen text: show control characters escaped, never raw.
            let shown = description.unicodeScalars.map { $0.properties.generalCategory == .control ? $0.escaped(asASCII: true) : String($0) }.joined()
            lines.append(row("description", shown))
        }
        if let hash = invoice.descriptionHash { lines.append(row("description hash", hex(hash))) }
        lines.append(row("min final cltv", "\(invoice.minFinalCLTVExpiryDelta)"))
        for (index, hint) in invoice.routeHints.enumerated() {
            for hop in hint.hops {
                lines.append(row("route \(index + 1)", "\(hex(hop.nodeKey)) via \(hop.shortChannelIDText), fee \(hop.feeBaseMsat) msat + \(hop.feeProportionalMillionths) ppm, cltv delta \(hop.cltvExpiryDelta)"))
            }
        }
        for fallback in invoice.fallbackAddresses {
            lines.append(row("fallback", "version \(fallback.version), \(hex(fallback.program))"))
        }
        if let metadata = invoice.metadata { lines.append(row("metadata", hex(metadata))) }
        lines.append(row("features", invoice.features.bits.isEmpty ? "none" : invoice.features.names.joined(separator: ", ")))
        return lines
    }
}
