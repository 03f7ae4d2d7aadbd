import FakeRail
import Foundation
import PayRail
import PayRailCrypto
import PayRailServer
import PayRailStore

/// `payrail refund RECEIPT_TOKEN|REFERENCE [--amount AMOUNT] [--reason TEXT]`: refunds a payment the
/// gate recorded, through the rail that was paid, against the same data directory as `payrail serve`.
enum RefundCommand {
    static let all: [CommandSpec] = [refund]

    static let refund = CommandSpec(
        path: ["refund"],
        summary: "Refund a payment the gate recorded (by receipt token or settlement reference) through its rail.",
        options: RailCommandRegistry.options(for: .payee, merging: [
            OptionSpec(name: "amount", valueName: "AMOUNT", help: "how much to refund, e.g. 0.20usd or 50sat (default: all that is left)"),
            OptionSpec(name: "reason", valueName: "TEXT", help: "a note kept with the refund (also tells two deliberate equal refunds apart)"),
            OptionSpec(name: "data", valueName: "DIR", help: "the gate's data directory, as for payrail serve (default ./.payrail)"),
            OptionSpec(name: "db", valueName: "FILE|URL",
                       help: "the gate store: SQLite file or postgres:// URL (default $PAYRAIL_DB, else DIR/gate.sqlite)"),
        ] + StoreLocation.tuningOptions + [
            OptionSpec(name: "json", help: "print one JSON object"),
        ]),
        positionals: [PositionalSpec(name: "RECEIPT_TOKEN|REFERENCE", help: "the receipt token (X-Receipt) or the settlement reference (pi_…, pay_…); - reads stdin")],
        details: RailCommandRegistry.details(for: .payee, after: """
        Finds the payment in the gate's store by the receipt token's hash or by its settlement
        reference, refunds it through the rail it was paid on (rail settings as for payrail serve:
        flags or environment), records the refund in the store and ends the receipt's grant: a
        replay of the receipt is refused afterwards. The store may be shared with a running payrail
        serve (SQLite WAL; each write waits for the other's lock). Never more than was paid minus
        what was already refunded; the same command run twice refunds once (the idempotency key is
        derived from the payment, the amount asked and the reason). A fake payment is refunded
        through the running payrail serve of the data directory (it holds the fake processor; its
        address is in fake-payer.json), or directly when none runs. Lightning refuses (a refund
        needs an invoice from the payer).
        Exit 0: refunded (or already refunded by the same command); 1: refused (unknown payment,
        too much, the rail refused); 2: usage; 4: the outcome is unknown and the refund is recorded
        as pending: run the same command again.
        """),
        run: { arguments in try await run(arguments) }
    )

    private static func run(_ arguments: ParsedArguments) async throws -> ExitCode {
        var target = arguments.positionals.first ?? ""
        if target == "-" { target = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self) }
        target = target.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !target.isEmpty else { throw CommandFailure.usage("give the receipt token or the settlement reference to refund") }
        let amount: Money?
        do { amount = try arguments.value("amount").map { try Money(parsing: $0) } } catch {
            throw CommandFailure.usage("--amount must be an amount with its unit, e.g. 0.20usd or 50sat")
        }
        let dataPath = arguments.value("data") ?? ".payrail"
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dataPath, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw CommandFailure.refused("no data directory \(dataPath): pass --data as for payrail serve")
        }
        let data = try ServeDataDirectory(path: dataPath)
        let location = try StoreLocation.gate(arguments, fallback: data.databaseURL.path)
        guard !location.isMissingFile else {
            throw CommandFailure.refused("no gate database \(location.display): pass --db or --data as for payrail serve")
        }
        let store = try await location.openGateStore()
        let finder = GateRefunder(store: store, rails: [])
        let consumed: ConsumedChallenge
        do { consumed = try await finder.consumption(target) } catch {
            await store.close()
            throw failure(error)
        }
        let settings = try RailCommandRegistry.settings(for: [consumed.settlement.rail], arguments, role: .payee)
        let services: ServeRailServices
        var rails: [any PayeeRail]
        do {
            services = try await self.services(for: consumed.settlement.rail, data: data)
            rails = settings.map { $0.payeeRail(services) }
        } catch let held as CommandFailure where consumed.settlement.rail == .fake {
            // The running server holds the processor's file: refund through its refund endpoint.
            guard let hosted = await runningServerRail(data: data) else { throw held }
            services = try await self.services(for: .lightning, data: data)
            rails = [hosted]
        }
        let refunder = GateRefunder(store: store, rails: rails)
        let result: Result<GateRefundOutcome, GateRefundError>
        do { result = .success(try await refunder.refund(target, amount: amount, reason: arguments.value("reason"))) } catch {
            result = .failure(error)
        }
        // Closed before the answer, so nothing is left running when the process exits.
        await services.local?.close()
        await store.close()
        switch result {
        case .success(let outcome):
            try report(outcome, json: arguments.flag("json"))
            return .success
        case .failure(let error):
            throw failure(error)
        }
    }

    private static func failure(_ error: GateRefundError) -> CommandFailure {
        CommandFailure(exitCode: error.kind == .pending ? .paidNotDelivered : .refused, message: "payrail refund: \(error.message)")
    }

    /// The fake processor of the data directory for a fake payment (exclusive: refused while payrail
    /// serve holds it); an unused processor in memory for any other rail.
    private static func services(for rail: RailID, data: ServeDataDirectory) async throws -> ServeRailServices {
        let none = FakeAccountCredentials(accountID: "none", secret: "")
        guard rail == .fake else {
            let key = try Ed25519.PrivateKey()
            let unused = FakeProcessor(signingKey: key)
            return ServeRailServices(processor: unused, local: unused, processorKey: key.publicKey, merchant: none,
                                     demoPayer: none, data: data)
        }
        guard FileManager.default.fileExists(atPath: data.fakeProcessorDatabaseURL.path)
                || !FileManager.default.fileExists(atPath: data.fakePayerURL.path)
        else {
            // A gate started with --fake-processor keeps no processor here: refund at the one it used.
            throw CommandFailure.refused("payrail refund: \(data.url.path) holds no fake processor of its own")
        }
        let key = try data.fakeProcessorKey()
        let secrets = try data.fakeAccountSecrets(for: ["merchant"])
        let merchant = FakeAccountCredentials(accountID: "merchant", secret: secrets["merchant"] ?? "")
        do {
            let processor = try FakeProcessor(signingKey: key, databaseURL: data.fakeProcessorDatabaseURL)
            return ServeRailServices(processor: processor, local: processor, processorKey: key.publicKey, merchant: merchant,
                                     demoPayer: none, data: data)
        } catch {
            throw CommandFailure.refused("payrail refund: the fake processor in \(data.url.path) cannot be opened (\(error.reason)); "
                                         + "if payrail serve runs on this directory, stop it, refund, and start it again")
        }
    }

    /// The fake payee rail through the running `payrail serve` of this data directory (its address is
    /// in `fake-payer.json`), when it answers the merchant's balance: `nil` when no server runs.
    private static func runningServerRail(data: ServeDataDirectory) async -> (any PayeeRail)? {
        guard let payer = try? FakePayerFile(contentsOf: data.fakePayerURL),
              let secrets = try? data.fakeAccountSecrets(for: ["merchant"]), let secret = secrets["merchant"], !secret.isEmpty
        else { return nil }
        let merchant = FakeAccountCredentials(accountID: "merchant", secret: secret)
        let hosted = HostedFakeProcessor(baseURL: payer.payURL.deletingLastPathComponent())
        guard (try? await hosted.balance(of: merchant, unit: .sat)) != nil else { return nil }
        return FakePayeeRail(processor: hosted, processorKey: payer.processorKey, account: merchant)
    }

    private static func report(_ outcome: GateRefundOutcome, json: Bool) throws {
        let record = outcome.record
        if json {
            var object: [String: Any] = [
                "challengeID": outcome.challengeID, "rail": outcome.settlement.rail.rawValue, "reference": outcome.settlement.reference,
                "amount": record.amount.description, "status": record.status.rawValue, "alreadyRefunded": outcome.alreadyRecorded,
                "remaining": outcome.remaining.description, "paid": outcome.settlement.amount.description,
            ]
            object["refundID"] = record.railRefundID
            object["reason"] = record.reason
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
            print(String(decoding: data, as: UTF8.self))
        } else {
            let verb = outcome.alreadyRecorded ? "already refunded" : "refunded"
            print("\(verb) \(record.amount) of \(outcome.settlement.amount) on \(outcome.settlement.rail) "
                  + "(\(record.railRefundID ?? "no refund id"), \(record.status.rawValue)); \(outcome.remaining) left; the receipt's grant has ended")
        }
    }
}
