import Foundation
import PayRailServer
import Testing
@testable import payrail

// An upstream that fails after the paywall let a request through: the problem tells the payer what
// became of the payment. A final charge keeps its grant (retry with the receipt, no new charge); a
// card authorization is voided when its answer is not served, so the problem must not call it settled.

@Suite("upstream failure wording")
struct UpstreamPaymentWordingTests {
    private let failures = [
        UpstreamFailure(.unavailable, reason: "connection refused"), UpstreamFailure(.tooLarge(limit: 1024), reason: "large"),
        UpstreamFailure(.deadline(seconds: 5), reason: "slow"),
    ]

    @Test("a charge is told its receipt still holds; a released authorization that nothing was charged; a free request nothing")
    func wordingFollowsThePayment() {
        for failure in failures {
            let charged = failure.refusal(payment: .charged).detail
            #expect(charged.contains("the payment was settled") && charged.contains("X-Receipt"), "\(charged)")
            let released = failure.refusal(payment: .authorizationReleased).detail
            #expect(!released.contains("settled") && !released.contains("X-Receipt") && released.contains("nothing was charged"), "\(released)")
            let free = failure.refusal(payment: .none).detail
            #expect(!free.contains("payment") && !free.contains("charged"), "\(free)")
            // The status and the retry advice do not depend on the payment.
            #expect(failure.refusal(payment: .charged).status == failure.refusal(payment: .authorizationReleased).status)
        }
    }
}
