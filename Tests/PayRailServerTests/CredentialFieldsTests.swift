import Foundation
import PayRail
import PayRailServer
import PayRailWire
import Testing

// Issue 15 point 5: one list of every dialect's credential fields, shared by the gate's readers and
// the proxy's stripping. These tests read requests field by field through every standard dialect's
// `read`: a dialect that reads a field the list does not name (a new dialect, a renamed field) fails
// here, and so does a proxy that would forward a field some dialect reads.

/// Whether `dialect` finds (or chokes on) a credential in `request`: either means it read the field.
private func reacts<D: GateDialect>(_ dialect: D, _ request: GateRequest) -> Bool {
    do { return try dialect.read(request) != nil } catch { return true }
}

private func reactingDialects(_ fields: HTTPFields) -> [String] {
    let request = GateRequest(method: "GET", path: "/premium", headers: fields, clientAddress: "127.0.0.1")
    return GateDialects.standard.filter { reacts($0, request) }.map { "\(type(of: $0))" }
}

/// Values shaped like every dialect's credentials (and like nothing), so a field a dialect reads
/// makes it react with at least one of them.
private let valueShapes: [String] = [
    "x", "Payment x", "payment eyJhIjoxfQ", "Payment\teyJhIjoxfQ", "L402 AgEB:00", "LSAT AgEB:00", "lsat x",
    "Bearer upstream-key, Payment id=\"x\", method=\"fake\"", "Basic dXNlcjpwYXNz,L402 AgEB:00",
    String(repeating: "ab", count: 32), "aaaa.bbbb.cccc", "voucher.part", "eyJ4NDAyVmVyc2lvbiI6Mn0", "0201",
    "02010a6c6f63616c686f7374",
]

/// Header names a dialect might read: every name-like string literal of the wire codecs and the
/// server (where a dialect names its field), every listed field, and common fields.
private func candidateFieldNames() throws -> [String] {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    var names: Set<String> = Set(CredentialFields.all)
    names.formUnion(["Authorization", "Proxy-Authorization", "Cookie", "Idempotency-Key", "Accept-Payment", "X-Api-Key",
                     "Payment", "L402", "LSAT", "X-Payment-Token", "Payment-Credential"])
    let literal = try NSRegularExpression(pattern: "\"([A-Za-z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)*)\"")
    for folder in ["Sources/PayRailWire", "Sources/PayRailServer"] {
        let base = root.appendingPathComponent(folder)
        let files = FileManager.default.enumerator(at: base, includingPropertiesForKeys: nil)?.compactMap { $0 as? URL } ?? []
        for file in files where file.pathExtension == "swift" {
            let text = try String(contentsOf: file, encoding: .utf8)
            for match in literal.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                if let range = Range(match.range(at: 1), in: text) { names.insert(String(text[range])) }
            }
        }
    }
    #expect(names.count > 100, "the source scan found too few names: \(names.count)")
    return names.flatMap { [$0, $0.lowercased()] }.sorted()
}

@Suite("credential fields (issue 15, point 5)")
struct CredentialFieldsTests {
    @Test("no dialect reads a field, or an Authorization value, the shared list does not name")
    func everyFieldADialectReadsIsListed() throws {
        var unlisted: [String] = []
        for name in try candidateFieldNames() {
            for value in valueShapes where !CredentialFields.isCredential(name: name, value: value) {
                let readers = reactingDialects(HTTPFields([(name, value)]))
                if !readers.isEmpty { unlisted.append("\(name): \(value) is read by \(readers)") }
            }
        }
        #expect(unlisted.isEmpty, "dialects read fields missing from CredentialFields: \(unlisted)")
    }

    @Test("every listed field is read by some dialect (the list is not stale)")
    func everyListedFieldIsRead() {
        for name in CredentialFields.all {
            let read = valueShapes.contains { !reactingDialects(HTTPFields([(name, $0)])).isEmpty }
            #expect(read, "\(name) is listed but no dialect reads it")
        }
        #expect(CredentialFields.isCredential(name: "authorization", value: "Bearer k, Payment id=\"x\""))
        #expect(!CredentialFields.isCredential(name: "Authorization", value: "Bearer upstream-key"))
        #expect(!CredentialFields.isCredential(name: "Authorization", value: "Basic dXNlcjpwYXNz"))
    }

    @Test("what the proxy forwards gives no dialect anything to read; other Authorization schemes pass")
    func proxyStripsEveryFieldTheDialectsRead() throws {
        var fields = HTTPFields()
        for name in try candidateFieldNames() {
            for value in valueShapes { fields.append(name, value) }
        }
        let forwarded = ProxyHeaders.upstreamRequestFields(fields, clientAddress: "127.0.0.1", host: "a.example", scheme: "http")
        for field in forwarded {
            let readers = reactingDialects(HTTPFields([(field.name, field.value)]))
            #expect(readers.isEmpty, "\(field.name): \(field.value) reaches the upstream and \(readers) read it")
        }
        #expect(reactingDialects(forwarded).isEmpty)
        #expect(forwarded.values("Authorization").contains("Bearer upstream-key") == false,
                "a list naming Payment anywhere is a credential and is removed whole")
        let plain = ProxyHeaders.upstreamRequestFields(HTTPFields([("Authorization", "Bearer upstream-key")]),
                                                       clientAddress: "127.0.0.1", host: nil, scheme: "http")
        #expect(plain.values("Authorization") == ["Bearer upstream-key"])
        for name in CredentialFields.dedicated { #expect(forwarded[name] == nil, "\(name) reaches the upstream") }
    }
}
