import Foundation

/// `payrail demo`: a gated server and a paying agent in one process, over loopback, on the fake rail.
enum DemoCommand {
    static let all: [CommandSpec] = [demo]

    static let demo = CommandSpec(
        path: ["demo"],
        summary: "Run a gated server and a paying agent in one process on the fake rail, showing every step.",
        details: """
        No option, no external service, no setup. The demo starts a gated server on 127.0.0.1 (a free
        port) with the fake processor in process, a SQLite gate store and an Ed25519 receipt key in a
        temporary directory (removed at the end), and prices GET /premium at 100 sat. Then, each step
        printed on stdout as it happens:

          1. the server starts and publishes its receipt keys at /.well-known/payrail/jwks.json;
          2. an unpaid GET gets a 402 in every dialect it carries, read back into offers;
          3. an agent (max 100 sat per request, 150 sat per hour, a SQLite wallet) negotiates,
             reserves, pays, retries with the credential, verifies the receipt, commits the spend;
          4. the same call again (same payment id) is answered from the receipt, nothing paid;
          5. a new call would exceed the hourly budget and is refused, nothing paid;
          6. a summary: balances, the ledger, and ok or FAILED for every step.

        Every step is checked (statuses, balances, ledger, receipt, refusal code), not assumed. No
        secret is printed: no voucher, credential, account secret or key; receipts appear shortened.
        Exit codes: 0 every step behaved as expected; 1 a step did not (the reason is printed).
        """,
        run: { _ in try await DemoRun().run() }
    )
}
