@testable import PayRailServer
import Testing

/// `GateOutcome` scans every 402 body for `"problem"`; the scan must agree with a naive search.
@Suite("GateOutcome body scan")
struct GateOutcomeScanTests {
    static func naive(_ body: [UInt8], _ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, body.count >= needle.count else { return false }
        return (0...(body.count - needle.count)).contains { body[$0..<($0 + needle.count)].elementsEqual(needle) }
    }

    @Test("found at the start, middle and end; absent, cut off at the end, or among repeated first bytes")
    func agreesWithNaiveSearch() {
        let needle = Array("\"problem\"".utf8)
        let bodies = [
            "", "\"", "\"problem", "\"problem\"", "x\"problem\"", "{\"a\":1,\"problem\":\"x\"}", "{\"a\":\"\"\"\"problem\"}",
            "\"\"\"\"\"\"\"\"\"\"", "{\"problems\":1}", "{\"detail\":\"no problem\"}", String(repeating: "\"proble", count: 50) + "\"problem\"",
            "b\"problem\"", "bbbb\"problem\"bbbb", "\"problem\"b", "bb", "bbbbbbbbb", "\"pro\"problem\"", "b", "\"probl",
        ]
        // Whichever byte of the needle memchr looks for (the gate's scan anchors on the `b`).
        for text in bodies {
            let body = Array(text.utf8)
            for anchor in needle.indices {
                #expect(GateOutcome.contains(body, needle, anchor: anchor) == Self.naive(body, needle), "\(text) anchor \(anchor)")
            }
        }
        #expect(!GateOutcome.contains(Array("\"problem\"".utf8), needle, anchor: needle.count))
        #expect(!GateOutcome.contains(Array("abc".utf8), []))
        #expect(GateOutcome.contains(Array("abc".utf8), Array("c".utf8)))
        #expect(!GateOutcome.contains(Array("ab".utf8), Array("abc".utf8)))
    }
}
