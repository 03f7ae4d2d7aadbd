import Dispatch
import Foundation
import PayRail
import PayRailCrypto

// A payment processor in miniature: accounts with balances, payable requests, signed vouchers and
// at-most-once redemption. It behaves like a real one where it matters to the code above it:
// latency, outages, declines, and the nasty case of a timeout after the money moved. Every such
// event is drawn from a seeded generator, so a failing test replays exactly. Opened on a file
// (`init(signingKey:databaseURL:)`) it keeps every account, balance, request and redemption across
// restarts, each change on disk before the answer that reports it.

/// How unreliable the fake processor is. Rates are per mille (0...1000) so no floating point is involved.
public struct FakeProcessorBehaviour: Hashable, Sendable {
    /// Seed of the failure generator; the same seed and call sequence give the same failures.
    public var seed: UInt64
    /// Delay added to every call.
    public var latency: Duration
    /// Chance per call that the processor is unreachable before doing anything (`.unavailable`, `.safe`).
    public var unavailablePerMille: Int
    /// Chance per `pay` that the payment is declined (`.declined`, nothing debited).
    public var declinePerMille: Int
    /// Chance per `pay` that the answer is lost AFTER the debit (`.timedOut`, `.afterLookup`).
    public var timeoutAfterDebitPerMille: Int

    /// Creates a behaviour; each rate is clamped to 0...1000 and they are tried in the order
    /// unavailable, decline, timeout on one draw per call.
    public init(
        seed: UInt64 = 0, latency: Duration = .zero, unavailablePerMille: Int = 0, declinePerMille: Int = 0,
        timeoutAfterDebitPerMille: Int = 0
    ) {
        self.seed = seed
        self.latency = latency
        self.unavailablePerMille = min(max(unavailablePerMille, 0), 1000)
        self.declinePerMille = min(max(declinePerMille, 0), 1000)
        self.timeoutAfterDebitPerMille = min(max(timeoutAfterDebitPerMille, 0), 1000)
    }

    /// Never fails, no latency.
    public static let reliable = FakeProcessorBehaviour()
}

/// Where a request stands at the processor.
public enum FakeRequestStatus: Hashable, Sendable {
    /// Registered, not paid.
    case open
    /// Paid by `payer`; funds are held until the payee redeems.
    case paid(payer: String)
    /// Redeemed: the payee was credited once.
    case settled(paymentID: String)
}

/// The in-process fake payment processor.
public actor FakeProcessor: FakeProcessorAPI {
    /// The key that verifies this processor's vouchers; give it to payee and payer rails.
    public nonisolated let publicKey: Ed25519.PublicKey
    private let signingKey: Ed25519.PrivateKey
    private let clock: any PayRailClock
    private let behaviour: FakeProcessorBehaviour
    private var generator: SplitMix64
    private var accounts: [String: FakeAccountState] = [:]
    private var requests: [String: FakeRequestState] = [:]
    /// Where changes are committed before they are applied here; `nil` keeps everything in memory.
    private var journal: FakeProcessorJournal?
    /// A serial queue of its own: committing waits for the disk, which must not hold one of Swift's
    /// few cooperative threads (the gate's store keeps its SQLite work off them the same way).
    private nonisolated let executor = FakeProcessorExecutor()

    /// Runs the actor on its own serial queue.
    public nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

    /// Creates a processor.
    ///
    /// - Parameters:
    ///   - signingKey: the voucher signing key (persist its seed to keep vouchers valid across restarts).
    ///   - clock: decides request expiry.
    ///   - behaviour: latency and failure injection.
    public init(signingKey: Ed25519.PrivateKey, clock: any PayRailClock = SystemClock(), behaviour: FakeProcessorBehaviour = .reliable) {
        self.signingKey = signingKey
        self.publicKey = signingKey.publicKey
        self.clock = clock
        self.behaviour = behaviour
        self.generator = SplitMix64(seed: behaviour.seed)
    }

    /// Opens a processor that keeps its state in the SQLite file at `databaseURL` (created, mode 0600,
    /// when missing): accounts (secrets as SHA-256 only), balances, requests and redemptions survive a
    /// restart, so a voucher paid before it is still `.alreadySettled` and its redemption still found.
    ///
    /// The process holds the file until `close()` or exit; a second processor on it is refused.
    ///
    /// - Parameters:
    ///   - signingKey: the voucher signing key the file was first written with (it records the public key).
    ///   - databaseURL: the state file.
    ///   - clock: decides request expiry.
    ///   - behaviour: latency and failure injection.
    /// - Throws: `RailError` `.unavailable` naming the file and what to do when it cannot be created,
    ///   opened or locked, is empty or damaged, or belongs to another signing key.
    public init(
        signingKey: Ed25519.PrivateKey, databaseURL: URL, clock: any PayRailClock = SystemClock(),
        behaviour: FakeProcessorBehaviour = .reliable
    ) throws(RailError) {
        let (journal, accounts, requests) = try FakeProcessorJournal.open(databaseURL, publicKey: signingKey.publicKey)
        self.signingKey = signingKey
        self.publicKey = signingKey.publicKey
        self.clock = clock
        self.behaviour = behaviour
        self.generator = SplitMix64(seed: behaviour.seed)
        self.journal = journal
        self.accounts = accounts
        self.requests = requests
    }

    /// Closes the state file (releasing it for another process); later changes fail with `.unavailable`.
    /// Does nothing for a processor kept in memory.
    public func close() {
        journal?.close()
    }

    // MARK: Administration (not part of the API: the operator's console)

    /// Opens an account with a fresh random API secret.
    ///
    /// - Throws: `.mismatch` if the id is taken or empty; `.unavailable` if no randomness is available
    ///   or the account cannot be stored.
    public func openAccount(_ accountID: String) throws(RailError) -> FakeAccountCredentials {
        guard !accountID.isEmpty, accounts[accountID] == nil else {
            throw RailError(.mismatch, "account id \"\(accountID)\" is empty or already taken", rail: .fake)
        }
        let secret = "sk_fake_" + Base64URL.encode(try Self.randomBytes(32))
        let account = FakeAccountState(secretHash: SHA256.hash(Array(secret.utf8)))
        try commit([.account(id: accountID, account)])
        accounts[accountID] = account
        return FakeAccountCredentials(accountID: accountID, secret: secret)
    }

    /// Opens the account with the secret in `credentials` unless it exists, and funds it with each
    /// amount of `funding` whose unit it never held, in one change: run at every start of a server
    /// whose processor keeps its state, this funds a demo account once per unit, never again after a
    /// restart (its balance stays what was left), while a unit priced for the first time is funded.
    ///
    /// - Throws: `.mismatch` for an empty id or empty secret; `.declined` when the account exists
    ///   with another secret; `.unavailable` when the change cannot be stored.
    public func provisionAccount(_ credentials: FakeAccountCredentials, funding: [Money] = []) throws(RailError) {
        guard !credentials.accountID.isEmpty, !credentials.secret.isEmpty else {
            throw RailError(.mismatch, "an account needs an id and a secret", rail: .fake)
        }
        var account = accounts[credentials.accountID] ?? FakeAccountState(secretHash: SHA256.hash(Array(credentials.secret.utf8)))
        if accounts[credentials.accountID] != nil {
            try authenticate(credentials)
        }
        for money in funding where account.balances[money.unit] == nil {
            account.balances[money.unit] = money.amount
        }
        try commit([.account(id: credentials.accountID, account)])
        accounts[credentials.accountID] = account
    }

    /// Adds funds to an account (a top-up from outside the fake world).
    ///
    /// - Throws: `.mismatch` for an unknown account; `.unsupported` when the balance would overflow;
    ///   `.unavailable` when the new balance cannot be stored (then nothing changed).
    public func deposit(_ money: Money, into accountID: String) throws(RailError) {
        guard var account = accounts[accountID] else {
            throw RailError(.mismatch, "unknown account \"\(accountID)\"", rail: .fake)
        }
        let (sum, overflow) = (account.balances[money.unit] ?? 0).addingReportingOverflow(money.amount)
        guard !overflow else { throw RailError(.unsupported, "the balance would overflow", rail: .fake) }
        account.balances[money.unit] = sum
        try commit([.account(id: accountID, account)])
        accounts[accountID] = account
    }

    /// An account's balance, without authentication (operator view).
    public func balance(ofAccount accountID: String, unit: MoneyUnit) -> Money {
        Money.zeroOr(accounts[accountID]?.balances[unit], unit: unit)
    }

    /// Funds paid by payers but not yet redeemed by payees, per unit (operator view).
    ///
    /// - Throws: `.unsupported` when the total does not fit 64 bits (each payer's balance does, their
    ///   sum need not); a wrapped or clamped total would misreport money.
    public func heldFunds(unit: MoneyUnit) throws(RailError) -> Money {
        var held = Money.zero(unit)
        for request in requests.values
        where request.payer != nil && request.paymentID == nil && request.record.amount.unit == unit {
            do {
                held = try held.adding(request.record.amount)
            } catch {
                throw RailError(.unsupported, "the held \(unit) total does not fit 64 bits: \(error)", rail: .fake)
            }
        }
        return held
    }

    /// The status of a request, or `nil` if the processor never issued it (operator view).
    public func status(ofRequest requestID: String) -> FakeRequestStatus? {
        guard let request = requests[requestID] else { return nil }
        if let paymentID = request.paymentID { return .settled(paymentID: paymentID) }
        if let payer = request.payer { return .paid(payer: payer) }
        return .open
    }

    /// How long a paid request is kept after it expired, by default: a week, well over the gate's
    /// 24-hour presentation grace plus its default one-hour grant (a voucher presented again within
    /// them must still be `.alreadySettled`, and a lost redemption still found).
    public static let defaultPaidRetention: TimeInterval = 7 * 86_400

    /// The shortest retention `purgeExpired` accepts for paid requests: the gate's presentation grace.
    public static let minimumPaidRetention: TimeInterval = 86_400

    /// Forgets requests nobody can still use, in one stored change: requests that expired unpaid
    /// (they can no longer be paid), and paid ones whose expiry is more than `paidRetention` ago. A
    /// paid request never redeemed by then is refunded to its payer first (the hold lapses, as an
    /// authorization does), so no payment is lost by forgetting it. Run it on the gate's purge schedule.
    ///
    /// - Parameters:
    ///   - now: the moment to judge expiry by (default: the processor's clock).
    ///   - paidRetention: how long after its expiry a paid request is kept; at least
    ///     `minimumPaidRetention` (a shorter value is raised to it). Pass at least the gate's
    ///     presentation grace plus its grant lifetime.
    ///   - limit: at most this many requests are forgotten per call (the rest on the next one).
    /// - Throws: `.unavailable` when the change cannot be stored (then nothing was forgotten).
    @discardableResult
    public func purgeExpired(
        now: Date? = nil, paidRetention: TimeInterval = FakeProcessor.defaultPaidRetention, limit: Int = 10_000
    ) throws(RailError) -> FakePurgeReport {
        let now = now ?? clock.now()
        let retention = max(paidRetention, Self.minimumPaidRetention)
        var report = FakePurgeReport()
        var forgotten: [String] = []
        var refunded: [String: FakeAccountState] = [:]
        for (id, request) in requests where forgotten.count < limit {
            guard let payer = request.payer else {
                guard request.record.expiresAt < now else { continue }
                report.expiredUnpaid += 1
                forgotten.append(id)
                continue
            }
            guard request.record.expiresAt.addingTimeInterval(retention) < now else { continue }
            if request.redemption == nil {
                // Held funds go back to the payer; a payer that cannot take them keeps the request.
                let amount = request.record.amount
                guard var account = refunded[payer] ?? accounts[payer] else { continue }
                let (sum, overflow) = (account.balances[amount.unit] ?? 0).addingReportingOverflow(amount.amount)
                guard !overflow else { continue }
                account.balances[amount.unit] = sum
                refunded[payer] = account
                report.refunded += 1
            } else {
                report.settled += 1
            }
            forgotten.append(id)
        }
        try commit(forgotten.map { .deleteRequest(id: $0) } + refunded.map { .account(id: $0.key, $0.value) })
        for id in forgotten { requests[id] = nil }
        for (id, account) in refunded { accounts[id] = account }
        return report
    }

    /// How many requests the processor holds (operator view; bounded by `purgeExpired`).
    public var requestCount: Int { requests.count }

    // MARK: FakeProcessorAPI

    /// Registers a payable request; its expiry is truncated to whole seconds (the voucher's precision).
    public func createRequest(
        amount: Money, expiresAt: Date, challengeID: String, payee: FakeAccountCredentials
    ) async throws(RailError) -> FakePaymentRequest {
        await simulateLatency()
        if roll() < behaviour.unavailablePerMille { throw Self.unavailable() }
        try authenticate(payee)
        let expiry = Date(timeIntervalSince1970: expiresAt.timeIntervalSince1970.rounded(.down))
        guard expiry > clock.now() else {
            throw RailError(.expired, "the requested expiry \(expiry) is already past", rail: .fake)
        }
        guard expiry.timeIntervalSince(clock.now()) <= Self.maximumRequestLifetime else {
            throw RailError(.unsupported, "requests live at most \(Int(Self.maximumRequestLifetime)) seconds", rail: .fake)
        }
        let id = "req_" + Base64URL.encode(try Self.randomBytes(16))
        let record = FakePaymentRequest(id: id, payee: payee.accountID, amount: amount, expiresAt: expiry, challengeID: challengeID)
        let request = FakeRequestState(record: record)
        try commit([.request(request)], synced: false)  // unpaid: its loss in a power cut costs nobody anything
        requests[id] = request
        return record
    }

    /// Pays a request; idempotent per request and payer (see `FakeProcessorAPI.pay`).
    public func pay(
        requestID: String, amount: Money, payee: String, payer: FakeAccountCredentials
    ) async throws(RailError) -> String {
        await simulateLatency()
        // One draw per call, taken before any state is read, so the failure sequence depends only on
        // the seed and the order of calls.
        let draw = roll()
        if draw < behaviour.unavailablePerMille { throw Self.unavailable() }
        try authenticate(payer)
        guard var request = requests[requestID] ?? boundRequest(requestID) else {
            throw RailError(.mismatch, "the processor has no request \(requestID)", rail: .fake)
        }
        guard request.record.amount == amount, request.record.payee == payee else {
            throw RailError(.mismatch, "the request's amount or payee differs from the offer", rail: .fake)
        }
        if let paidBy = request.payer {
            guard paidBy == payer.accountID, let voucher = request.voucher else {
                throw RailError(.alreadySettled, "this request was already paid by another account", rail: .fake)
            }
            return voucher  // the idempotent replay: same voucher, no second debit
        }
        let now = clock.now()
        guard now <= request.record.expiresAt else {
            throw RailError(.expired, "the request expired at \(request.record.expiresAt)", rail: .fake)
        }
        if draw < behaviour.unavailablePerMille + behaviour.declinePerMille {
            throw RailError(.declined, "the processor declined the payment", rail: .fake)
        }
        guard var account = accounts[payer.accountID] else {
            throw RailError(.declined, "unknown payer account", rail: .fake)
        }
        let balance = account.balances[amount.unit] ?? 0
        guard balance >= amount.amount else {
            throw RailError(
                .insufficientFunds, "the balance \(Money.zeroOr(balance, unit: amount.unit)) does not cover \(amount)",
                rail: .fake)
        }
        let claims = FakeVoucher(
            requestID: requestID, payer: payer.accountID, payee: payee, amount: amount,
            issuedAt: Int64(now.timeIntervalSince1970.rounded(.down)),
            expiresAt: Int64(request.record.expiresAt.timeIntervalSince1970))
        let voucher = try claims.signed(with: signingKey)  // before the debit: a signing failure moves no money
        account.balances[amount.unit] = balance - amount.amount
        request.payer = payer.accountID
        request.voucher = voucher
        try commit([.account(id: payer.accountID, account), .request(request)])  // the debit and the voucher together
        accounts[payer.accountID] = account
        requests[requestID] = request
        let timeoutLimit = behaviour.unavailablePerMille + behaviour.declinePerMille + behaviour.timeoutAfterDebitPerMille
        if draw < timeoutLimit {
            throw RailError(.timedOut, "the processor did not answer after accepting the payment", rail: .fake)
        }
        return voucher
    }

    /// Redeems a voucher for the payee, atomically at most once per request.
    public func redeem(voucher: String, requestID: String, payee: FakeAccountCredentials) async throws(RailError) -> FakeRedemption {
        await simulateLatency()
        if roll() < behaviour.unavailablePerMille { throw Self.unavailable() }
        try authenticate(payee)
        // From here to the end there is no suspension point: check and mark happen in one actor turn.
        guard var request = requests[requestID] else {
            throw RailError(.mismatch, "the processor has no request \(requestID)", rail: .fake)
        }
        guard request.record.payee == payee.accountID else {
            throw RailError(.mismatch, "the request belongs to another payee", rail: .fake)
        }
        guard let issued = request.voucher, constantTimeEquals(Array(issued.utf8), Array(voucher.utf8)) else {
            throw RailError(.invalidProof, "the processor issued no such voucher for this request", rail: .fake)
        }
        if request.paymentID != nil {
            throw RailError(.alreadySettled, "the request was already redeemed", rail: .fake)
        }
        // No expiry check: a voucher exists only for a payment made before the request expired
        // (`pay` refuses later ones), so redeeming it late moves money that was paid in time. The
        // gate decides how late it still accepts one; after the paid retention, purging refunds an
        // unredeemed payment to its payer instead.
        let now = clock.now()
        guard var account = accounts[payee.accountID] else {
            throw RailError(.declined, "unknown payee account", rail: .fake)
        }
        let amount = request.record.amount
        let (credited, overflow) = (account.balances[amount.unit] ?? 0).addingReportingOverflow(amount.amount)
        guard !overflow else { throw RailError(.unsupported, "the payee balance would overflow", rail: .fake) }
        let paymentID = "pay_" + Base64URL.encode(try Self.randomBytes(16))
        account.balances[amount.unit] = credited
        // Kept to the millisecond, the precision it is stored with: the answer is the same after a restart.
        let redemption = FakeRedemption(paymentID: paymentID, requestID: requestID, amount: amount,
                                        redeemedAt: FakeProcessorJournal.truncatedToMilliseconds(now))
        request.redemption = redemption
        // The credit and the redemption together, on disk before anyone is told: a second redeem of
        // the same voucher, now or after a restart, finds it and answers `.alreadySettled`.
        try commit([.account(id: payee.accountID, account), .request(request)])
        accounts[payee.accountID] = account
        requests[requestID] = request
        return redemption
    }

    /// The redemption of one of the payee's requests, or `nil` while it is not redeemed.
    public func redemption(ofRequest requestID: String, payee: FakeAccountCredentials) async throws(RailError) -> FakeRedemption? {
        await simulateLatency()
        if roll() < behaviour.unavailablePerMille { throw Self.unavailable() }
        try authenticate(payee)
        guard let request = requests[requestID] else {
            // A bound request nobody paid yet exists only as its id: not redeemed.
            if let bound = boundRequest(requestID), bound.record.payee == payee.accountID { return nil }
            throw RailError(.mismatch, "the processor has no request \(requestID)", rail: .fake)
        }
        guard request.record.payee == payee.accountID else {
            throw RailError(.mismatch, "the request belongs to another payee", rail: .fake)
        }
        return request.redemption
    }

    /// The authenticated account's balance.
    public func balance(of account: FakeAccountCredentials, unit: MoneyUnit) async throws(RailError) -> Money {
        await simulateLatency()
        if roll() < behaviour.unavailablePerMille { throw Self.unavailable() }
        try authenticate(account)
        return balance(ofAccount: account.accountID, unit: unit)
    }

    // MARK: Internals

    // MARK: Refund support (see FakeRefunds.swift)

    /// The start of every call: latency, then maybe an outage.
    func enterCall() async throws(RailError) {
        await simulateLatency()
        if roll() < behaviour.unavailablePerMille { throw Self.unavailable() }
    }

    func authenticatePayee(_ credentials: FakeAccountCredentials) throws(RailError) { try authenticate(credentials) }

    func requestState(_ id: String) -> FakeRequestState? { requests[id] }

    func hasAccount(_ id: String) -> Bool { accounts[id] != nil }

    func now() -> Date { clock.now() }

    func refundIDBytes() throws(RailError) -> [UInt8] { try Self.randomBytes(16) }

    /// Debits the payee, credits the payer and records the refund, on disk before applied here.
    func moveBack(_ refund: FakeRefund, from payeeID: String, to payerID: String, request: FakeRequestState) throws(RailError) {
        var changed = accounts
        let unit = refund.amount.unit
        guard var payee = changed[payeeID], (payee.balances[unit] ?? 0) >= refund.amount.amount else {
            throw RailError(.insufficientFunds, "the payee's balance does not hold \(refund.amount) any more", rail: .fake)
        }
        payee.balances[unit] = (payee.balances[unit] ?? 0) - refund.amount.amount
        changed[payeeID] = payee
        guard var payer = changed[payerID] else { throw RailError(.mismatch, "the payer account is gone", rail: .fake) }
        let (credited, overflow) = (payer.balances[unit] ?? 0).addingReportingOverflow(refund.amount.amount)
        guard !overflow else { throw RailError(.unsupported, "the payer balance would overflow", rail: .fake) }
        payer.balances[unit] = credited
        changed[payerID] = payer
        var updated = request
        updated.refunds.append(refund)
        let touched = Set([payeeID, payerID]).compactMap { id in changed[id].map { FakeJournalChange.account(id: id, $0) } }
        try commit(touched + [.request(updated)])
        for id in [payeeID, payerID] { accounts[id] = changed[id] }
        requests[request.record.id] = updated
    }

    /// Stores `changes` (nothing for a processor kept in memory) before the caller applies them here.
    private func commit(_ changes: [FakeJournalChange], synced: Bool = true) throws(RailError) {
        try journal?.commit(changes, synced: synced)
    }

    /// One day: long enough for any challenge, short enough that held funds do not pile up.
    static let maximumRequestLifetime: TimeInterval = 86_400

    private func authenticate(_ credentials: FakeAccountCredentials) throws(RailError) {
        guard let account = accounts[credentials.accountID],
              constantTimeEquals(account.secretHash, SHA256.hash(Array(credentials.secret.utf8)))
        else {
            throw RailError(.declined, "the processor refused the account credentials", rail: .fake)
        }
    }

    /// A number in 0..<1000 from the seeded generator.
    private func roll() -> Int {
        Int(generator.next() % 1000)
    }

    private func simulateLatency() async {
        if behaviour.latency > .zero {
            try? await Task.sleep(for: behaviour.latency)
        }
    }

    private static func unavailable() -> RailError {
        RailError(.unavailable, "the processor is unreachable; nothing was done", retry: .safe, rail: .fake)
    }

    private static func randomBytes(_ count: Int) throws(RailError) -> [UInt8] {
        do {
            return try SecureRandom.bytes(count: count)
        } catch {
            throw RailError(.unavailable, "no secure randomness: \(error)", retry: .safe, rail: .fake)
        }
    }
}

/// What one `FakeProcessor.purgeExpired` forgot.
public struct FakePurgeReport: Hashable, Sendable {
    /// Requests that expired unpaid.
    public var expiredUnpaid = 0
    /// Redeemed requests past their retention.
    public var settled = 0
    /// Paid requests never redeemed within their retention, refunded to their payer before being forgotten.
    public var refunded = 0

    /// An empty report.
    public init() {}

    /// Every request forgotten.
    public var total: Int { expiredUnpaid + settled + refunded }
}

/// Runs the processor actor's jobs on one serial dispatch queue, off Swift's cooperative threads.
final class FakeProcessorExecutor: SerialExecutor, @unchecked Sendable {
    private let queue = DispatchQueue(label: "payrail.fake-processor")

    func enqueue(_ job: consuming ExecutorJob) {
        let unowned = UnownedJob(job)
        let executor = asUnownedSerialExecutor()
        queue.async { unowned.runSynchronously(on: executor) }
    }
}

extension Money {
    /// `amount` of `unit`, or zero when absent or (impossibly) negative.
    fileprivate static func zeroOr(_ amount: Int64?, unit: MoneyUnit) -> Money {
        (try? Money(amount: amount ?? 0, unit: unit)) ?? .zero(unit)
    }
}
