// swift-tools-version:6.0
import PackageDescription

// PayRail has no Swift package dependencies by design: system C libraries only,
// each behind its own `.systemLibrary` shim target.
let package = Package(
    name: "PayRail",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "PayRailCrypto", targets: ["PayRailCrypto"]),
        .library(name: "PayRail", targets: ["PayRail"]),
        .library(name: "PayRailReceipts", targets: ["PayRailReceipts"]),
        .library(name: "PayRailWire", targets: ["PayRailWire"]),
        .library(name: "PayRailStore", targets: ["PayRailStore"]),
        .library(name: "PayRailPostgres", targets: ["PayRailPostgres"]),
        .library(name: "PayRailStoreTesting", targets: ["PayRailStoreTesting"]),
        .library(name: "PayRailHTTP", targets: ["PayRailHTTP"]),
        .library(name: "PayRailHTTPClient", targets: ["PayRailHTTPClient"]),
        .library(name: "PayRailServer", targets: ["PayRailServer"]),
        .library(name: "PayRailPaywall", targets: ["PayRailPaywall"]),
        .library(name: "PayRailTesting", targets: ["PayRailTesting"]),
        .library(name: "PayRailAgent", targets: ["PayRailAgent"]),
        .library(name: "PayRailMCP", targets: ["PayRailMCP"]),
        .library(name: "PayRailMCPPayments", targets: ["PayRailMCPPayments"]),
        .library(name: "FakeRail", targets: ["FakeRail"]),
        .library(name: "Bolt11", targets: ["Bolt11"]),
        .library(name: "LightningRail", targets: ["LightningRail"]),
        .library(name: "StripeRail", targets: ["StripeRail"]),
        .executable(name: "payrail", targets: ["payrail"]),
        .executable(name: "receipt-bench", targets: ["ReceiptVerification"]),
        .executable(name: "wire-fuzz", targets: ["WireFuzz"]),
        .executable(name: "paid-bench", targets: ["PaidCalls"]),
        .executable(name: "ledger-reserve-bench", targets: ["LedgerReserve"]),
    ],
    targets: [
        .systemLibrary(
            name: "COpenSSL",
            path: "Sources/COpenSSL",
            pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"]), .brew(["openssl@3"])]
        ),
        .systemLibrary(
            name: "CTLS", path: "Sources/CTLS", pkgConfig: "libssl",
            providers: [.apt(["libssl-dev"]), .brew(["openssl@3"])]
        ),
        .systemLibrary(
            name: "CSQLite", path: "Sources/CSQLite", pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"]), .brew(["sqlite"])]
        ),
        .systemLibrary(
            name: "CPostgreSQL", path: "Sources/CPostgreSQL", pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"]), .brew(["libpq"])]
        ),
        .systemLibrary(
            name: "CMicroHTTPD", path: "Sources/CMicroHTTPD", pkgConfig: "libmicrohttpd",
            providers: [.apt(["libmicrohttpd-dev"]), .brew(["libmicrohttpd"])]
        ),
        .target(name: "PayRailCrypto", dependencies: ["COpenSSL"], path: "Sources/PayRailCrypto"),
        // A TLS client pinned to one certificate (LND's tls.cert): the only module that sees libssl.
        .target(name: "PayRailTLS", dependencies: ["CTLS"], path: "Sources/PayRailTLS"),
        .target(name: "PayRailStore", dependencies: ["CSQLite", "PayRail"], path: "Sources/PayRailStore"),
        // The PostgreSQL stores, in their own module so SQLite-only users never link libpq.
        .target(name: "PayRailPostgres", dependencies: ["CPostgreSQL", "PayRailStore", "PayRail"], path: "Sources/PayRailPostgres"),
        // The store contract suite: every GateStore and SpendStore implementation runs it.
        .target(name: "PayRailStoreTesting", dependencies: ["PayRailStore", "PayRail"], path: "Sources/PayRailStoreTesting"),
        .target(name: "PayRailHTTP", dependencies: ["CMicroHTTPD"], path: "Sources/PayRailHTTP"),
        // The bounded HTTP client (URLSession, bodies counted as they arrive, one deadline, no redirects):
        // every body the agent or a rail's backend client reads comes through it.
        .target(name: "PayRailHTTPClient", path: "Sources/PayRailHTTPClient"),
        .target(
            name: "PayRailServer",
            dependencies: ["PayRail", "PayRailCrypto", "PayRailWire", "PayRailStore", "PayRailReceipts"],
            path: "Sources/PayRailServer"
        ),
        .target(
            name: "PayRailAgent",
            dependencies: ["PayRail", "PayRailCrypto", "PayRailWire", "PayRailStore", "PayRailReceipts", "PayRailHTTPClient"],
            path: "Sources/PayRailAgent"
        ),
        // The Gate as PayRailHTTP middleware: the only module that knows both.
        .target(
            name: "PayRailPaywall",
            dependencies: ["PayRail", "PayRailCrypto", "PayRailHTTP", "PayRailServer", "PayRailWire"],
            path: "Sources/PayRailPaywall"
        ),
        .target(name: "PayRail", path: "Sources/PayRail"),
        // The Model Context Protocol (JSON-RPC, lifecycle, tools) over stdio and Streamable HTTP.
        .target(name: "PayRailMCP", dependencies: ["PayRailCrypto", "PayRailHTTP"], path: "Sources/PayRailMCP"),
        // Paid MCP tools: the gate behind a tools/call, and the paying client in front of one.
        .target(
            name: "PayRailMCPPayments",
            dependencies: ["PayRailMCP", "PayRail", "PayRailCrypto", "PayRailWire", "PayRailServer", "PayRailAgent"],
            path: "Sources/PayRailMCPPayments"
        ),
        .target(name: "PayRailReceipts", dependencies: ["PayRail", "PayRailCrypto"], path: "Sources/PayRailReceipts"),
        .target(name: "PayRailWire", dependencies: ["PayRail", "PayRailCrypto", "Bolt11"], path: "Sources/PayRailWire"),
        .target(name: "PayRailTesting", dependencies: ["PayRail"], path: "Sources/PayRailTesting"),
        .target(name: "FakeRail", dependencies: ["PayRail", "PayRailCrypto", "CSQLite", "PayRailHTTPClient"], path: "Adapters/FakeRail"),
        // The BOLT 11 invoice codec: read by the wire dialects (lnbtc, L402, plain) and by the Lightning rail.
        .target(name: "Bolt11", dependencies: ["PayRail", "PayRailCrypto"], path: "Sources/Bolt11"),
        // The Lightning rail over LNbits / LND REST backends.
        .target(
            name: "LightningRail", dependencies: ["PayRail", "PayRailCrypto", "PayRailWire", "Bolt11", "PayRailTLS", "PayRailHTTPClient"],
            path: "Adapters/LightningRail/Rail"
        ),
        // The Stripe rail over Stripe's REST API (PaymentIntents, refunds), tested against localstripe.
        .target(name: "StripeRail", dependencies: ["PayRail", "PayRailCrypto", "PayRailHTTPClient"], path: "Adapters/StripeRail"),
        .executableTarget(
            name: "payrail",
            dependencies: [
                "PayRail", "PayRailCrypto", "PayRailReceipts", "PayRailWire", "FakeRail", "PayRailServer", "PayRailHTTP",
                "PayRailStore", "PayRailPaywall", "PayRailAgent", "Bolt11", "LightningRail", "StripeRail", "PayRailPostgres",
                "PayRailMCP", "PayRailMCPPayments", "PayRailHTTPClient",
            ],
            path: "Sources/payrail"
        ),
        // Benchmarks: the C baseline calls OpenSSL directly (the "raw" limit), the kit measures PayRail.
        .target(
            name: "CReceiptBaseline", path: "Benchmarks/CReceiptBaseline",
            cSettings: [.define("OPENSSL_API_COMPAT", to: "30000"), .define("OPENSSL_NO_DEPRECATED")],
            linkerSettings: [.linkedLibrary("crypto")]
        ),
        .target(
            name: "ReceiptBenchmarkKit",
            dependencies: ["CReceiptBaseline", "PayRail", "PayRailCrypto", "PayRailReceipts"],
            path: "Benchmarks/ReceiptBenchmarkKit"
        ),
        .executableTarget(
            name: "ReceiptVerification", dependencies: ["ReceiptBenchmarkKit"],
            path: "Benchmarks/ReceiptVerification", exclude: ["Peers"]
        ),
        // libFuzzer harness for the wire parsers; scripts/fuzz builds it with -sanitize=fuzzer.
        .executableTarget(
            name: "PaidCalls", dependencies: ["PayRailAgent", "PayRailStore", "PayRailPostgres", "FakeRail", "PayRail"],
            path: "Benchmarks/PaidCalls"),
        .executableTarget(
            name: "gate-issue-bench", dependencies: ["PayRailServer", "PayRailHTTP", "PayRailPaywall", "PayRailStore", "PayRailReceipts", "FakeRail", "PayRail", "PayRailCrypto", "PayRailWire"],
            path: "Benchmarks/GateIssue"),
        .executableTarget(name: "WireFuzz", dependencies: ["PayRailWire", "PayRailCrypto", "Bolt11"], path: "Fuzz/WireFuzz"),
        .testTarget(
            name: "PayRailCryptoTests", dependencies: ["PayRailCrypto"],
            path: "Tests/PayRailCryptoTests", exclude: ["Fixtures"]
        ),
        .testTarget(name: "PayRailTests", dependencies: ["PayRail", "PayRailTesting"], path: "Tests/PayRailTests"),
        .testTarget(
            name: "FakeRailTests", dependencies: ["FakeRail", "PayRail", "PayRailTesting", "PayRailCrypto", "PayRailTestServers"],
            path: "Tests/FakeRailTests"
        ),
        // Test-only support: an in-memory Lightning node issuing real signed invoices.
        .target(
            name: "LightningTestSupport", dependencies: ["LightningRail", "Bolt11", "PayRail", "PayRailCrypto"],
            path: "Tests/LightningTestSupport"
        ),
        // Test-only support: runs the pinned Python peers that scripts/test installs.
        .target(name: "PayRailTestPeers", path: "Tests/PayRailTestPeers"),
        // Test-only support: loopback servers that send huge or dripping bodies without holding them.
        .target(name: "PayRailTestServers", path: "Tests/PayRailTestServers"),
        .testTarget(
            name: "PayRailReceiptsTests", dependencies: ["PayRailReceipts", "PayRail", "PayRailCrypto", "PayRailTestPeers"],
            path: "Tests/PayRailReceiptsTests", exclude: ["Fixtures"]
        ),
        .testTarget(
            name: "PayRailWireTests", dependencies: ["PayRailWire", "PayRail", "PayRailCrypto", "PayRailTestPeers"],
            path: "Tests/PayRailWireTests", exclude: ["Fixtures"]
        ),
        .testTarget(
            name: "ReceiptBenchmarkTests", dependencies: ["ReceiptBenchmarkKit", "PayRailTestPeers"],
            path: "Tests/ReceiptBenchmarkTests"
        ),
        .testTarget(
            name: "PayRailStoreTests", dependencies: ["PayRailStore", "PayRail", "PayRailStoreTesting"],
            path: "Tests/PayRailStoreTests", exclude: ["Fixtures"]
        ),
        .testTarget(
            name: "PayRailPostgresTests",
            dependencies: [
                "PayRailPostgres", "PayRailStore", "PayRail", "PayRailStoreTesting", "PayRailTestPeers",
                "PayRailServer", "PayRailCrypto", "PayRailReceipts", "PayRailWire", "FakeRail",
            ],
            path: "Tests/PayRailPostgresTests"
        ),
        .testTarget(
            name: "PayRailServerTests",
            dependencies: [
                "PayRailServer", "PayRail", "PayRailCrypto", "PayRailWire", "PayRailStore", "PayRailReceipts", "FakeRail",
                "PayRailHTTP", "PayRailPaywall", "LightningRail", "LightningTestSupport", "Bolt11",
            ],
            path: "Tests/PayRailServerTests"
        ),
        .testTarget(
            name: "PayRailAgentTests",
            dependencies: [
                "PayRailAgent", "PayRail", "PayRailCrypto", "PayRailWire", "PayRailStore", "PayRailReceipts", "FakeRail",
                "PayRailServer", "PayRailHTTP", "PayRailPaywall", "PayRailTesting", "PayRailTestServers",
            ],
            path: "Tests/PayRailAgentTests", exclude: ["Fixtures"]
        ),
        .testTarget(
            name: "Bolt11Tests", dependencies: ["Bolt11", "PayRail", "PayRailCrypto", "PayRailTestPeers"],
            path: "Tests/Bolt11Tests", exclude: ["Fixtures", "Peers"]
        ),
        .testTarget(
            name: "LightningRailTests",
            dependencies: [
                "LightningRail", "Bolt11", "PayRail", "PayRailCrypto", "PayRailWire", "PayRailTesting", "PayRailTestPeers",
                "LightningTestSupport", "PayRailTestServers",
            ],
            path: "Tests/LightningRailTests", exclude: ["Fixtures"]
        ),
        .testTarget(
            name: "StripeRailTests",
            dependencies: ["StripeRail", "PayRail", "PayRailCrypto", "PayRailTesting", "PayRailTestPeers", "PayRailTestServers"],
            path: "Tests/StripeRailTests", exclude: ["Fixtures", "Peers"]
        ),
        .testTarget(name: "PayRailHTTPTests", dependencies: ["PayRailHTTP"], path: "Tests/PayRailHTTPTests"),
        // Test-only: a small MCP server (echo, slow with progress, ask with elicitation) on stdio or HTTP,
        // started by the MCP tests and by the official Python SDK's client.
        .executableTarget(
            name: "mcp-test-server", dependencies: ["PayRailMCP", "PayRailHTTP", "PayRailCrypto"], path: "Tests/MCPTestServer"
        ),
        .testTarget(
            name: "PayRailMCPTests",
            dependencies: ["PayRailMCP", "PayRailHTTP", "PayRailCrypto", "PayRailTestPeers", "mcp-test-server"],
            path: "Tests/PayRailMCPTests", exclude: ["Peers"]
        ),
        .testTarget(
            name: "PayRailMCPPaymentsTests",
            dependencies: [
                "PayRailMCPPayments", "PayRailMCP", "PayRailServer", "PayRailAgent", "PayRail", "PayRailCrypto", "PayRailWire",
                "PayRailStore", "PayRailReceipts", "FakeRail", "PayRailTestPeers", "PayRailHTTP",
            ],
            path: "Tests/PayRailMCPPaymentsTests", exclude: ["Peers"]
        ),
        .testTarget(
            name: "PayRailCLITests",
            dependencies: [
                "payrail", "PayRailServer", "PayRailHTTP", "PayRailStore", "PayRail", "PayRailWire", "PayRailReceipts", "LightningRail",
                "PayRailTestPeers", "PayRailTestServers",
            ],
            path: "Tests/PayRailCLITests", exclude: ["Fixtures"]
        ),
        // What a budget reservation costs as the day's spends grow (SQLite, and PostgreSQL with --postgres).
        .executableTarget(
            name: "LedgerReserve", dependencies: ["PayRailStore", "PayRailPostgres", "PayRail"], path: "Benchmarks/LedgerReserve"
        ),
    ],
    swiftLanguageModes: [.v6]
)
