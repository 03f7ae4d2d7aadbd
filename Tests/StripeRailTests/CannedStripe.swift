import Foundation
import PayRail
@testable import StripeRail

/// A Stripe stand-in that answers from fixtures in order and records every request it got.
final class CannedStripe: StripeTransport, @unchecked Sendable {
    // @unchecked: `answers` and `sent` are guarded by `lock`.

    /// One expected exchange: the request's method and path, and the answer (or a transport failure).
    struct Exchange {
        let method: String
        let path: String
        let answer: Result<StripeHTTPResponse, StripeTransportFailure>
    }

    private let lock = NSLock()
    private var answers: [Exchange]
    private var sent: [StripeHTTPRequest] = []

    private let delay: Duration?

    /// `delay` holds every answer back, so concurrent callers really overlap.
    init(_ answers: [Exchange], delay: Duration? = nil) {
        self.answers = answers
        self.delay = delay
    }

    func send(_ request: StripeHTTPRequest) async throws(StripeTransportFailure) -> StripeHTTPResponse {
        let next: Exchange? = lock.withLock {
            sent.append(request)
            return answers.isEmpty ? nil : answers.removeFirst()
        }
        if let delay { try? await Task.sleep(for: delay) }
        guard let next else { throw .notSent("no canned answer left for \(request.method) \(request.url.path)") }
        let path = request.url.path + (request.url.query.map { "?" + $0 } ?? "")
        guard next.method == request.method, next.path == path else {
            throw .notSent("expected \(next.method) \(next.path), got \(request.method) \(path)")
        }
        return try next.answer.get()
    }

    /// The requests sent so far.
    var requests: [StripeHTTPRequest] { lock.withLock { sent } }
    /// Canned answers not asked for.
    var unused: Int { lock.withLock { answers.count } }
}

enum Fixture {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    static func bytes(_ name: String) -> [UInt8] {
        (try? Array(Data(contentsOf: directory.appendingPathComponent(name)))) ?? Array("missing fixture \(name)".utf8)
    }

    static func answer(_ method: String, _ path: String, _ status: Int, _ name: String, headers: [String: String] = [:]) -> CannedStripe.Exchange {
        var all = ["Request-Id": "req_fixture"]
        all.merge(headers) { _, new in new }
        return .init(method: method, path: path, answer: .success(StripeHTTPResponse(status: status, headers: all, body: bytes(name))))
    }

    static func failure(_ method: String, _ path: String, _ failure: StripeTransportFailure) -> CannedStripe.Exchange {
        .init(method: method, path: path, answer: .failure(failure))
    }
}

enum TestKeys {
    /// A key shaped like a real test key, to prove it never appears in text.
    static let secret = "sk_test_51QfixtureSecretKeyNeverPrinted0000"
    static let spt = "spt_1QfixtureTokenAAAA"
    static let intent = "pi_3QfixtureIntent01"

    static func client(_ transport: CannedStripe) throws -> StripeClient {
        try StripeClient(apiBase: URL(string: "https://api.stripe.com")!, key: StripeSecretKey(secret), transport: transport)
    }

    static func charge(challenge: String = "challenge-fixture-1", amount: Int64 = 50, clock: any PayRailClock) throws -> Charge {
        try Charge(amount: Money(amount: amount, unit: .usd), resource: Resource(method: "GET", path: "/premium"),
                   expiresAt: clock.now().addingTimeInterval(300), challengeID: challenge)
    }
}

extension StripeHTTPRequest {
    /// The body decoded as a form.
    var form: StripeForm { StripeForm(decoding: String(decoding: body, as: UTF8.self)) }
}
