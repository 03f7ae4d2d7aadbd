import Foundation
import PayRailWire

// A reverse proxy must not pass on what belongs to one connection (RFC 9110 §7.6.1: Connection and
// the fields it names, Keep-Alive, TE, Trailer, Transfer-Encoding, Upgrade, Proxy-*), and the gate
// must not leak payment credentials to the upstream: the upstream is told a request was paid only
// by being reached. Framing fields (Host, Content-Length) are the HTTP client's job, so they are
// dropped here and rebuilt when the request is sent.

/// Header rewriting for a paywalling reverse proxy.
public enum ProxyHeaders {
    /// Fields that describe one hop, never forwarded in either direction.
    public static let hopByHop: Set<String> = [
        "connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization", "te", "trailer",
        "transfer-encoding", "upgrade",
    ]

    /// Fields that carry nothing but a payment credential or receipt (lowercased); the upstream never
    /// sees them. `CredentialFields` is the list; `Authorization` is judged by its value.
    public static let credentialFields: Set<String> = Set(CredentialFields.dedicated.map { $0.lowercased() })

    /// `fields` without hop-by-hop fields, without the fields `Connection` names, and without
    /// framing fields (`Content-Length`, `Host`) the sender recomputes.
    public static func removingHopByHop(_ fields: HTTPFields) -> HTTPFields {
        var named = hopByHop
        for value in fields.values("Connection") {
            for token in value.split(separator: ",") {
                named.insert(token.trimmingCharacters(in: .whitespaces).lowercased())
            }
        }
        named.insert("content-length")
        named.insert("host")
        return HTTPFields(fields.fields.filter { !named.contains($0.name.lowercased()) })
    }

    /// The fields to send upstream for a client request that passed the gate.
    ///
    /// - Parameters:
    ///   - fields: the client's request fields.
    ///   - clientAddress: the peer's IP address, appended to `X-Forwarded-For` and `Forwarded`.
    ///   - host: the `Host` the client asked for (becomes `X-Forwarded-Host`).
    ///   - scheme: `http` or `https` as the client spoke it (becomes `X-Forwarded-Proto`).
    public static func upstreamRequestFields(_ fields: HTTPFields, clientAddress: String, host: String?, scheme: String) -> HTTPFields {
        // Every field a dialect reads a credential from; an Authorization of another scheme (an
        // upstream API key) passes.
        var out = CredentialFields.removingCredentials(from: removingHopByHop(fields))
        // The proxy reads bodies whole and decompression is the client's business: ask for identity.
        out.set("Accept-Encoding", "identity")

        let previousFor = out["X-Forwarded-For"]
        out.set("X-Forwarded-For", previousFor.map { "\($0), \(clientAddress)" } ?? clientAddress)
        out.set("X-Forwarded-Proto", scheme)
        if let host, isPlainHost(host) { out.set("X-Forwarded-Host", host) } else { out.remove("X-Forwarded-Host") }
        var element = "for=\(forwardedNode(clientAddress));proto=\(scheme)"
        if let host, isPlainHost(host) { element += ";host=\"\(host)\"" }
        let previousForwarded = out.values("Forwarded").joined(separator: ", ")
        out.set("Forwarded", previousForwarded.isEmpty ? element : "\(previousForwarded), \(element)")
        return out
    }

    /// The upstream's response fields as they may go back to the client.
    public static func clientResponseFields(_ fields: HTTPFields) -> HTTPFields {
        var out = removingHopByHop(fields)
        // The body is re-framed by our server; a stale encoding or length would corrupt it.
        out.remove("Content-Encoding")
        return out
    }

    /// RFC 7239 node: IPv6 addresses are quoted and bracketed; anything odd becomes `unknown`.
    static func forwardedNode(_ address: String) -> String {
        guard !address.isEmpty, address.utf8.allSatisfy({ isHexDigit($0) || $0 == 0x2E || $0 == 0x3A }) else { return "unknown" }
        return address.contains(":") ? "\"[\(address)]\"" : address
    }

    private static func isHexDigit(_ byte: UInt8) -> Bool {
        (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x46) || (byte >= 0x61 && byte <= 0x66)
    }

    private static func isPlainHost(_ host: String) -> Bool {
        !host.isEmpty && host.utf8.count <= 255
            && host.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A)
                || $0 == 0x2D || $0 == 0x2E || $0 == 0x3A || $0 == 0x5B || $0 == 0x5D }
    }
}
