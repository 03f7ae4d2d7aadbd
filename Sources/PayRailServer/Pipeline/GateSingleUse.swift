import Foundation
import PayRail
import PayRailCrypto
import PayRailStore
import PayRailWire

// Single use (draft-httpauth-payment-02, "Replay Protection": a payment proof MUST be usable exactly
// once). A consumption keeps a hash of the exact credential that won it: the credential's field
// values, the proof the dialect read from them (what the rail verified), and the request they came
// with (priced resource, target, body digest). When a challenge already consumed is presented again:
//
// - the same bytes for the same request are an idempotent retry (the payer lost the answer): they
//   replay the stored response of the first grant, never settle, never grant afresh (the idea of
//   mpp-specs PR #335: replays keyed on the credential bytes, not the challenge id);
// - any other presentation of the proof (other bytes, another request) is refused as a used
//   challenge (`invalid-challenge`), before the rail is asked anything.
//
// When the first grant stored no response (its resource failed, it was a HEAD, the process died),
// there is nothing to replay and the proof must not buy a second serving. The payment is not lost:
// the answer is a 409 carrying a receipt token for the rest of the grant, and that receipt (PayRail's
// own post-payment token, `Pipeline/GateReplay.swift`) re-serves the resource; the agent switches to
// it on its own (`PayingClient.present`). L402 tokens are reusable by design (bLIP-26), so the L402
// dialect opts out (`GateDialect.proofIsSingleUse`) and keeps re-serving within the grant.

extension Gate {
    /// The hash a consumption keeps of the credential that won it: the priced resource, the request
    /// target, the body digest, the dialect and the proof it read (rail, offer, payload: exactly what
    /// the rail verified, so equal hashes mean the rail already accepted this proof, even for a
    /// dialect whose fields `CredentialFields` does not list), and every credential field value (or,
    /// for MCP, the `_meta` credential members, `MCPCredentialMeta.credentialMembers`), so the same
    /// proof sent with other bytes or for another request hashes differently.
    static func credentialHash(_ request: GateRequest, resource: Resource, dialect: PaymentDialect, credential: Credential) -> Data {
        // The method too: a HEAD with a GET's bytes must not replay the GET's body.
        var text = "\(request.method)\n\(resource)\n\(request.path)\n\(request.bodyDigest ?? "")\n\(dialect.rawValue)"
        let payload = credential.payload.mapValues(JSONValue.string)
        let proof = (try? CanonicalJSON.serialize(.object(["rail": .string(credential.rail.rawValue), "offer": .string(credential.offerID),
                                                           "payload": .object(payload)]))) ?? []
        text += "\nproof: " + String(decoding: proof, as: UTF8.self)
        switch request.source {
        case .httpFields(let fields):
            for name in CredentialFields.all {
                // An `Authorization` of the application's own (a refreshed Bearer token beside a
                // `Payment-Authorization` credential) is not part of the payment's bytes.
                for value in fields.values(name) where !Self.isApplicationAuthorization(name: name, value: value) {
                    text += "\n\(name.lowercased()): \(value)"
                }
            }
        case .mcpMeta(let meta):
            // Exactly what binds an MCP call: the tool (the priced path), its arguments (the body
            // digest the paywall computes from their JCS form) and the credential members. Other
            // `_meta` members (`progressToken`, tracing) may change on an honest retry.
            let entries = meta.filter { MCPCredentialMeta.credentialMembers.contains($0.key) }
            let canonical = (try? CanonicalJSON.serialize(.object(entries))) ?? []
            text += "\n_meta: " + String(decoding: canonical, as: UTF8.self)
        }
        return Data(SHA256.hash(Array(text.utf8)))
    }

    /// Whether a field is an `Authorization` value in a scheme no payment dialect uses (Bearer, Basic).
    static func isApplicationAuthorization(name: String, value: String) -> Bool {
        guard name.caseInsensitiveCompare("Authorization") == .orderedSame else { return false }
        let scheme = value.split(separator: " ", maxSplits: 1).first.map { $0.lowercased() } ?? ""
        return !["payment", "l402", "lsat"].contains(scheme)
    }

    /// A single-use proof whose challenge is already consumed: the same bytes replay the first grant,
    /// anything else is refused. `nil` for a consumption recorded before hashes were kept: then only
    /// the rail can tell whether this is the same payment, and the pipeline asks it.
    func presentedAgain(_ winner: ConsumedChallenge, record: ChallengeRecord, credentialHash: Data, dialect: PaymentDialect,
                        resource: Resource) async throws(GateRefusal) -> GateDecision? {
        guard winner.receipt.credentialHash != nil else { return nil }
        try refuseReuse(of: winner, credentialHash: credentialHash)
        return try await afterLostRace(record: record, resource: resource, reference: nil, dialect: dialect, winner: winner,
                                       singleUse: true)
    }

    /// Refuses a presentation whose bytes are not those that won the consumption (when known).
    func refuseReuse(of winner: ConsumedChallenge, credentialHash: Data?) throws(GateRefusal) {
        guard let expected = winner.receipt.credentialHash, let credentialHash, expected != credentialHash else { return }
        throw GateRefusal(credential: .invalidChallenge,
                          detail: "this challenge was already used by another credential; a payment proof is usable once, pay the fresh challenge",
                          logReason: "credential-reused challenge=\(Self.short(winner.challengeID))", challengeID: winner.challengeID)
    }

    /// The answer to the same single-use credential when its first grant stored no response: not a
    /// second serving, but a 409 carrying a receipt token for the rest of the grant, which re-serves
    /// the resource through the receipt path at no charge.
    func receiptInstead(of winner: ConsumedChallenge, token: String, resource: Resource) -> GateDecision {
        log("\(resource) receipt-instead challenge=\(Self.short(winner.challengeID)) ref=\(winner.settlement.reference)")
        var response = GateRefusal.grantNotStored.response()
        response.headers.append(PlainReceipt.fieldName, token)
        response.headers = ReceiptCaching.applied(to: response.headers, status: response.status)
        return .respond(response)
    }
}
