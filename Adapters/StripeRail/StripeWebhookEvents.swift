import Foundation
import PayRail

// What a verified webhook event means for a payment. The event body is read only for its id, type
// and object id: the object is fetched again from Stripe (with the payee's key) and only what Stripe
// answers now is used, so a forged or replayed body (should a secret leak) cannot grant, refund or
// end anything by itself. Event types handled (https://docs.stripe.com/api/events/types):
// `payment_intent.succeeded`, `.payment_failed`, `.canceled`, `.amount_capturable_updated`,
// `charge.refunded`, `charge.dispute.created`; any other type is acknowledged and ignored.

/// What the gate should do about a payment after an event.
public enum StripePaymentEffect: Sendable, Hashable {
    /// Nothing to change; log the state.
    case note
    /// Stripe says this much (smallest currency unit) of the charge is refunded in all.
    case refunded(total: Int64)
    /// A dispute was opened: the grant ends.
    case disputed(amount: Int64)
    /// The PaymentIntent is cancelled: an authorization granted on it is void, the grant ends.
    case canceled
}

/// An event with the facts fetched again from Stripe.
public struct StripeWebhookFacts: Sendable, Hashable {
    /// The event (id, type, object id).
    public let event: StripeWebhookEvent
    /// The PaymentIntent the event concerns, as Stripe answers now (`nil` for an unhandled type).
    public let paymentIntentID: String?
    /// The charge, when Stripe names one (the plain form's settlement reference).
    public let chargeID: String?
    /// What to do.
    public let effect: StripePaymentEffect
    /// One log line's worth (ids, states and amounts; never a secret or a client secret).
    public let summary: String
}

/// The `charge` fields a webhook reads (schema `charge`).
struct StripeWebhookCharge: Sendable, Decodable {
    let id: String
    let paymentIntent: String?
    let amountRefunded: Int64?
    enum CodingKeys: String, CodingKey {
        case id, paymentIntent = "payment_intent", amountRefunded = "amount_refunded"
    }
}

/// The `dispute` fields a webhook reads (schema `dispute`).
struct StripeWebhookDispute: Sendable, Decodable {
    let id: String
    let charge: String?
    let paymentIntent: String?
    let amount: Int64?
    let status: String?
    enum CodingKeys: String, CodingKey {
        case id, charge, amount, status, paymentIntent = "payment_intent"
    }
}

/// The event types the gate acts on.
public enum StripeWebhookTypes {
    /// Every handled type.
    public static let handled: Set<String> = [
        "payment_intent.succeeded", "payment_intent.payment_failed", "payment_intent.canceled",
        "payment_intent.amount_capturable_updated", "charge.refunded", "charge.dispute.created",
    ]
}

extension StripeClient {
    /// Fetches the event's object again and says what it means for its payment.
    ///
    /// - Throws: `RailError` (`.unavailable`/`.timedOut` when Stripe did not answer: answer the
    ///   delivery 5xx so Stripe sends it again; `.mismatch` when the object is not what the type says).
    public func facts(of event: StripeWebhookEvent) async throws(RailError) -> StripeWebhookFacts {
        do {
            switch event.type {
            case _ where event.type.hasPrefix("payment_intent.") && StripeWebhookTypes.handled.contains(event.type):
                let intent = try await retrievePaymentIntent(event.objectID)
                let effect: StripePaymentEffect = intent.status == "canceled" ? .canceled : .note
                return StripeWebhookFacts(event: event, paymentIntentID: intent.id, chargeID: intent.latestChargeID, effect: effect,
                                          summary: "\(intent.id) status=\(intent.status) amount=\(intent.amount) \(intent.currency)")
            case "charge.refunded":
                let charge: StripeWebhookCharge = try await get("/v1/charges/" + Self.checked(event.objectID, prefix: "ch_")).value
                let total = charge.amountRefunded ?? 0
                return StripeWebhookFacts(event: event, paymentIntentID: charge.paymentIntent, chargeID: charge.id, effect: total > 0 ? .refunded(total: total) : .note,
                                          summary: "\(charge.id) intent=\(charge.paymentIntent ?? "-") refunded=\(total)")
            case "charge.dispute.created":
                let dispute: StripeWebhookDispute = try await get("/v1/disputes/" + Self.checked(event.objectID, prefix: "dp_")).value
                var intentID = dispute.paymentIntent
                if intentID == nil, let chargeID = dispute.charge {
                    let charge: StripeWebhookCharge = try await get("/v1/charges/" + Self.checked(chargeID, prefix: "ch_")).value
                    intentID = charge.paymentIntent
                }
                return StripeWebhookFacts(event: event, paymentIntentID: intentID, chargeID: dispute.charge, effect: .disputed(amount: dispute.amount ?? 0),
                                          summary: "\(dispute.id) intent=\(intentID ?? "-") status=\(dispute.status ?? "-") amount=\(dispute.amount ?? 0)")
            default:
                return StripeWebhookFacts(event: event, paymentIntentID: nil, chargeID: nil, effect: .note, summary: "ignored type")
            }
        } catch {
            throw error.railError("fetching the \(event.objectType) of event \(event.id)")
        }
    }
}
