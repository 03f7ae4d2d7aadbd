import FakeRail
import Foundation
import PayRail
import PayRailCrypto
import PayRailHTTP
import PayRailPaywall
import PayRailServer

/// The payee side of the hosted fake processor over HTTP, so several gates (`payrail serve
/// --fake-processor URL`) take fake payments through one processor: register a request, redeem a
/// voucher, look a redemption up.
///
/// Every call carries the payee's account id and secret and the processor authenticates them, as
/// it does for `/refund`: a caller without the merchant's secret can neither redeem nor look up.
/// Each call is idempotent at the processor (a second redeem is `.alreadySettled`), so a gate that
/// lost an answer asks again.
struct FakeProcessorPayeeEndpoints: Sendable {
    let processor: FakeProcessor

    /// Answers `POST …/request`, `…/redeem` and `…/redemption`.
    func handle(_ request: HTTPRequest) async -> HTTPResponse {
        guard let object = EndpointJSON.object(request.body),
              let accountID = object["accountID"]?.stringValue, let secret = object["secret"]?.stringValue
        else {
            return problem(.badRequest("send JSON with the payee's \"accountID\" and \"secret\""))
        }
        let payee = FakeAccountCredentials(accountID: accountID, secret: secret)
        do {
            switch request.path {
            case ServeContext.fakeRequestPath: return try await createRequest(object, payee: payee)
            case ServeContext.fakeRedeemPath: return try await redeem(object, payee: payee)
            default: return try await redemption(object, payee: payee)
            }
        } catch let error as RailError {
            return problem(.fakeProcessorRefused(error))
        } catch let usage as EndpointUsage {
            return problem(.badRequest(usage.message))
        } catch {
            return problem(.badRequest("\(error)"))
        }
    }

    private func createRequest(_ object: [String: JSONValue], payee: FakeAccountCredentials) async throws -> HTTPResponse {
        guard let amountText = object["amount"]?.stringValue, let expiresAt = object["expiresAt"]?.exactInt64Value,
              let challengeID = object["challengeID"]?.stringValue
        else { throw EndpointUsage("send JSON {\"accountID\",\"secret\",\"amount\":\"100sat\",\"expiresAt\":MS,\"challengeID\"}") }
        let created = try await processor.createRequest(
            amount: try Money(parsing: amountText), expiresAt: Date(timeIntervalSince1970: Double(expiresAt) / 1000),
            challengeID: challengeID, payee: payee)
        return try EndpointJSON.answer([
            "id": .string(created.id), "payee": .string(created.payee), "amount": .string(created.amount.description),
            "expiresAt": EndpointJSON.milliseconds(Self.milliseconds(created.expiresAt)), "challengeID": .string(created.challengeID),
        ])
    }

    private func redeem(_ object: [String: JSONValue], payee: FakeAccountCredentials) async throws -> HTTPResponse {
        guard let requestID = object["requestID"]?.stringValue, let voucher = object["voucher"]?.stringValue else {
            throw EndpointUsage("send JSON {\"accountID\",\"secret\",\"requestID\",\"voucher\"}")
        }
        return try EndpointJSON.answer(Self.object(try await processor.redeem(voucher: voucher, requestID: requestID, payee: payee)))
    }

    private func redemption(_ object: [String: JSONValue], payee: FakeAccountCredentials) async throws -> HTTPResponse {
        guard let requestID = object["requestID"]?.stringValue else {
            throw EndpointUsage("send JSON {\"accountID\",\"secret\",\"requestID\"}")
        }
        let found = try await processor.redemption(ofRequest: requestID, payee: payee)
        return try EndpointJSON.answer(["redemption": found.map { .object(Self.object($0)) } ?? .null])
    }

    private static func object(_ redemption: FakeRedemption) -> [String: JSONValue] {
        ["paymentID": .string(redemption.paymentID), "requestID": .string(redemption.requestID),
         "amount": .string(redemption.amount.description), "redeemedAt": EndpointJSON.milliseconds(milliseconds(redemption.redeemedAt))]
    }

    private static func milliseconds(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded(.down)) }


    private func problem(_ refusal: GateRefusal) -> HTTPResponse { Paywall.httpResponse(refusal.response()) }
}

/// A request body missing a field: a 400 saying what to send.
private struct EndpointUsage: Error {
    let message: String
    init(_ message: String) { self.message = message }
}
