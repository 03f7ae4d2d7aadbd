// Rate limits count per client, and a client is whoever controls an address block, not one address:
// an IPv6 host is usually given a whole /64, so per-address buckets would let one client issue
// unlimited challenges from addresses it owns. IPv4 addresses count alone, an IPv4 address mapped
// into IPv6 (`::ffff:a.b.c.d`, what a dual-stack socket reports) counts as that IPv4 address, and an
// IPv6 address counts as its /64. Anything that is not an IP address (an API key id a host passes as
// `clientAddress`) counts as itself.

/// The network a client address belongs to, for rate limiting.
enum ClientNetwork {
    /// The rate-limit key of `address`: IPv4 as is, IPv4-mapped IPv6 as IPv4, IPv6 as its /64.
    static func rateLimitKey(_ address: String) -> String {
        guard address.contains(":"), let hextets = hextets(address) else { return address }
        if hextets[0..<5].allSatisfy({ $0 == 0 }), hextets[5] == 0xFFFF {
            return "\(hextets[6] >> 8).\(hextets[6] & 0xFF).\(hextets[7] >> 8).\(hextets[7] & 0xFF)"
        }
        return hextets[0..<4].map { String($0, radix: 16) }.joined(separator: ":") + "::/64"
    }

    /// The eight 16-bit groups of an IPv6 address (zone removed, `::` expanded, a trailing dotted
    /// IPv4 part read as two groups), or `nil` when it is not one.
    static func hextets(_ address: String) -> [UInt16]? {
        let text = address.split(separator: "%", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? address
        let halves = text.components(separatedBy: "::")
        guard halves.count <= 2 else { return nil }
        guard var head = groups(halves[0]) else { return nil }
        var tail: [UInt16] = []
        if halves.count == 2 {
            guard let parsed = groups(halves[1]) else { return nil }
            tail = parsed
            guard head.count + tail.count < 8 else { return nil }
            head += Array(repeating: 0, count: 8 - head.count - tail.count)
        }
        let all = head + tail
        return all.count == 8 ? all : nil
    }

    private static func groups(_ text: String) -> [UInt16]? {
        guard !text.isEmpty else { return [] }
        var result: [UInt16] = []
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        for (index, part) in parts.enumerated() {
            if index == parts.count - 1, part.contains(".") {
                let bytes = part.split(separator: ".", omittingEmptySubsequences: false).compactMap { UInt8($0) }
                guard bytes.count == 4 else { return nil }
                result += [UInt16(bytes[0]) << 8 | UInt16(bytes[1]), UInt16(bytes[2]) << 8 | UInt16(bytes[3])]
            } else {
                guard (1...4).contains(part.count), let value = UInt16(part, radix: 16) else { return nil }
                result.append(value)
            }
        }
        return result
    }
}
