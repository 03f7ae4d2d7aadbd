import Foundation
import PayRail
import PayRailAgent
import PayRailStore

/// The checks both demos end with (`payrail demo` and `payrail demo --mcp`): the wallet's ledger and
/// totals after exactly one payment, no known secret in the output, nothing left on disk.
enum DemoChecks {
    /// One committed spend of `price` sat, no proof kept, the totals to match; printed as it goes.
    static func ledger(_ step: inout DemoStep, governor: SpendGovernor?, price: Int64, out: DemoOutput) async {
        guard let governor else {
            step.fail("no wallet to summarize")
            return
        }
        do {
            let ledger = try await governor.ledger()
            out.detail("ledger (\(ledger.count) spend\(ledger.count == 1 ? "" : "s")):")
            for record in ledger {
                var line = "  \(record.paymentID)  \(record.state.rawValue)  \(record.amount)  \(record.rail)  \(record.method) \(record.url)"
                if let receipt = record.receipt { line += "  receipt \(DemoOutput.shortToken(receipt))" }
                if let reference = record.reference { line += "  ref \(reference)" }
                out.detail(line)
            }
            step.expect(ledger.count == 1 && ledger.allSatisfy { $0.state == .committed && $0.proof == nil },
                        "the ledger should hold one committed spend and no proof")
            for total in try await governor.totals() {
                out.detail("totals \(total.unit.code): last hour \(total.lastHour), last day \(total.lastDay), "
                    + "committed \(total.committed), pending \(total.pending)")
                if total.unit == .sat {
                    step.expect(DemoRun.isSats(total.committed, price) && total.pending.isZero && DemoRun.isSats(total.lastHour, price),
                                "the totals should be \(price)sat committed in the hour, nothing pending")
                }
            }
        } catch {
            step.fail("the ledger could not be read: \(error)")
        }
    }

    /// Fails the step if any secret the demo knows of was printed (a last line of defence), and if the
    /// server saw no proof at all (then the check proved nothing).
    static func noSecretPrinted(_ step: inout DemoStep, secrets: DemoSecrets, proofs: [String], kinds: String, out: DemoOutput) {
        secrets.add(proofs)
        let printed = out.transcript
        let known = secrets.all
        let leaked = known.filter { printed.contains($0) }.count
        out.detail("secrets checked: \(leaked) of \(known.count) known secrets (\(kinds)) appear in this output")
        step.expect(leaked == 0, "\(leaked) secret value(s) were printed")
        step.expect(!proofs.isEmpty, "the server saw no proof, so the check proved nothing")
    }

    /// Closes the wallet and removes the temporary directory; an open SQLite file could otherwise
    /// write its WAL back after the directory is gone and leave it behind.
    static func cleanUp(_ step: inout DemoStep, walletStore: SQLiteSpendStore?, directory: URL, out: DemoOutput) async {
        await walletStore?.close()
        do {
            try FileManager.default.removeItem(at: directory)
            out.detail("temporary directory removed")
        } catch {
            step.fail("the temporary directory \(directory.path) could not be removed: \(error)")
        }
        step.expect(!FileManager.default.fileExists(atPath: directory.path), "the temporary directory \(directory.path) is still there")
    }
}
