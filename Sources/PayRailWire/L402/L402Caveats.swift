import Foundation

// First-party caveats as aperture (`l402/caveat.go`, `service.go`, `satisfier.go`) writes and checks them:
// `condition=value`, split at the first `=`. Conditions: `services=name:tier[,name:tier]`,
// `<service>_valid_until=<unix seconds>` and `<service>_capabilities=cap[,cap]`. A condition may repeat;
// each repeat must be at least as strict as the one before (a holder narrows a token before lending it),
// and the last one decides.

extension WireError.Code {
    /// A verified token's caveat does not allow this request (wrong service, missing capability, a
    /// caveat that widens an earlier one). Paying again for a fresh token is the way forward.
    public static let caveatNotSatisfied = WireError.Code("caveat-not-satisfied")
}

/// One `condition=value` caveat.
public struct L402Caveat: Hashable, Sendable, CustomStringConvertible {
    /// What is restricted (`services`, `weather_valid_until`, ...).
    public let condition: String
    /// The restriction (may be empty: deployed tokens carry `meme_capabilities=`).
    public let value: String

    /// Makes a caveat.
    public init(condition: String, value: String) {
        self.condition = condition
        self.value = value
    }

    /// Splits a macaroon predicate at its first `=`.
    ///
    /// - Throws: `WireError` `.malformed` when there is no `=`; such caveats are skipped by the checker
    ///   (aperture does the same), because they are not L402 caveats.
    public init(parsing predicate: String) throws(WireError) {
        guard let equals = predicate.firstIndex(of: "=") else {
            throw WireError(.malformed, "an L402 caveat has the form condition=value")
        }
        condition = String(predicate[..<equals])
        value = String(predicate[predicate.index(after: equals)...])
    }

    /// The predicate text stored in the macaroon.
    public var predicate: String { "\(condition)=\(value)" }

    /// Same as `predicate`; caveats are public restrictions, not secrets.
    public var description: String { predicate }

    /// The condition suffix of a service's expiry caveat.
    public static let validUntilSuffix = "_valid_until"
    /// The condition suffix of a service's capabilities caveat.
    public static let capabilitiesSuffix = "_capabilities"
    /// The condition of the services caveat.
    public static let servicesCondition = "services"

    /// `services=name:tier,...`, which names every service the token may be used for.
    ///
    /// - Throws: `WireError` `.missingField` for an empty list.
    public static func services(_ services: [L402Service]) throws(WireError) -> L402Caveat {
        guard !services.isEmpty else { throw WireError(.missingField, "a services caveat needs at least one service") }
        return L402Caveat(condition: servicesCondition, value: L402Service.encodeList(services))
    }

    /// `<service>_valid_until=<unix seconds>`: the token works while the time is before `date`
    /// (fractions of a second are dropped, which only shortens the validity).
    public static func validUntil(service: String, _ date: Date) -> L402Caveat {
        let seconds = date.timeIntervalSince1970.rounded(.down)
        let unix = seconds.isFinite && seconds >= 0 && seconds < 9.2e18 ? Int64(seconds) : 0
        return L402Caveat(condition: service + validUntilSuffix, value: String(unix))
    }

    /// `<service>_capabilities=cap,...`: the only capabilities of `service` the token allows.
    public static func capabilities(service: String, _ capabilities: [String]) -> L402Caveat {
        L402Caveat(condition: service + capabilitiesSuffix, value: capabilities.joined(separator: ","))
    }
}

/// A service named in a `services` caveat, with its tier (aperture's base tier is 0).
public struct L402Service: Hashable, Sendable {
    /// The service name; never contains `,` or `:` (nothing escapes them in the caveat).
    public let name: String
    /// The service tier, printed as a decimal `uint8`.
    public let tier: UInt8

    /// Makes a service.
    ///
    /// - Throws: `WireError` `.malformed` for an empty name or one containing `,` or `:`, which would
    ///   decode back as other services.
    public init(name: String, tier: UInt8 = 0) throws(WireError) {
        guard !name.isEmpty, !name.contains(","), !name.contains(":") else {
            throw WireError(.malformed, "an L402 service name must be non-empty without ',' or ':'")
        }
        self.name = name
        self.tier = tier
    }

    /// `name:tier,name:tier`.
    public static func encodeList(_ services: [L402Service]) -> String {
        services.map { "\($0.name):\($0.tier)" }.joined(separator: ",")
    }

    /// Parses a services caveat value.
    ///
    /// - Throws: `WireError` `.malformed` for an empty value, an entry that is not `name:tier`, or a
    ///   tier that is not a decimal number up to 255 (aperture would silently truncate larger tiers).
    public static func parseList(_ value: String) throws(WireError) -> [L402Service] {
        guard !value.isEmpty else { throw WireError(.malformed, "the services caveat is empty") }
        var services: [L402Service] = []
        for entry in value.split(separator: ",", omittingEmptySubsequences: false) {
            let parts = entry.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 2, let tierText = parts.last, let nameText = parts.first,
                  !tierText.isEmpty, tierText.utf8.count <= 3, tierText.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                  let tier = UInt8(tierText) else {
                throw WireError(.malformed, "a services caveat entry must be name:tier with a tier from 0 to 255")
            }
            services.append(try L402Service(name: String(nameText), tier: tier))
        }
        return services
    }
}

/// Checks the L402 caveats of an authenticated macaroon for one request, as aperture's satisfiers do.
///
/// Conditions this checker does not know (other services' caveats, `preimage=`, caveats without `=`)
/// are skipped, as in aperture; the signature already proves our minter or a holder narrowing the
/// token added them. A token without a `services` caveat is therefore valid for every service.
public struct L402CaveatChecker: Sendable {
    /// The service the request is for.
    public var service: String
    /// The capability the request needs, or `nil` when the endpoint needs none in particular (then a
    /// capabilities caveat is only checked for narrowing its predecessors).
    public var capability: String?
    /// The time to judge `_valid_until` against (injected so tests and replays are deterministic).
    public var now: Date

    /// Makes a checker for one request.
    public init(service: String, capability: String? = nil, now: Date) {
        self.service = service
        self.capability = capability
        self.now = now
    }

    /// Checks `predicates` in macaroon order.
    ///
    /// - Throws: `WireError` `.expired` when the last `_valid_until` has passed (pay again for a new
    ///   token), `.caveatNotSatisfied` when the service or capability is not allowed or a repeated
    ///   caveat widens an earlier one.
    public func check(_ predicates: [String]) throws(WireError) {
        var services: [L402Caveat] = [], timeouts: [L402Caveat] = [], capabilities: [L402Caveat] = []
        for predicate in predicates {
            guard let caveat = try? L402Caveat(parsing: predicate) else { continue }
            switch caveat.condition {
            case L402Caveat.servicesCondition: services.append(caveat)
            case service + L402Caveat.validUntilSuffix: timeouts.append(caveat)
            case service + L402Caveat.capabilitiesSuffix: capabilities.append(caveat)
            default: continue
            }
        }
        try checkServices(services)
        try checkTimeouts(timeouts)
        try checkCapabilities(capabilities)
    }

    private func checkServices(_ caveats: [L402Caveat]) throws(WireError) {
        guard let last = caveats.last else { return }
        var allowed: Set<String>?
        for caveat in caveats {
            let names = try Self.serviceNames(caveat)
            if let allowed, !names.isSubset(of: allowed) {
                throw WireError(.caveatNotSatisfied, "a services caveat adds a service an earlier one did not allow")
            }
            allowed = names
        }
        guard try Self.serviceNames(last).contains(service) else {
            throw WireError(.caveatNotSatisfied, "the token is not valid for service \"\(service)\"")
        }
    }

    private static func serviceNames(_ caveat: L402Caveat) throws(WireError) -> Set<String> {
        do { return Set(try L402Service.parseList(caveat.value).map(\.name)) } catch {
            throw WireError(.caveatNotSatisfied, "the services caveat cannot be read: \(error.reason)")
        }
    }

    private func checkTimeouts(_ caveats: [L402Caveat]) throws(WireError) {
        var previous: Int64?
        for caveat in caveats {
            guard caveat.value.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let until = Int64(caveat.value) else {
                throw WireError(.caveatNotSatisfied, "\(caveat.condition) is not a unix time in seconds")
            }
            if let previous, until > previous {
                throw WireError(.caveatNotSatisfied, "\(caveat.condition) extends an earlier expiry")
            }
            previous = until
        }
        if let until = previous, !(now.timeIntervalSince1970 < Double(until)) {
            throw WireError(.expired, "the token for \"\(service)\" expired; pay again for a new one")
        }
    }

    private func checkCapabilities(_ caveats: [L402Caveat]) throws(WireError) {
        var allowed: Set<Substring>?
        for caveat in caveats {
            let current = Set(caveat.value.split(separator: ",", omittingEmptySubsequences: false))
            if let allowed, !current.isSubset(of: allowed) {
                throw WireError(.caveatNotSatisfied, "\(caveat.condition) adds a capability an earlier one did not allow")
            }
            allowed = current
        }
        guard let capability, let allowed else { return }
        guard allowed.contains(Substring(capability)) else {
            throw WireError(.caveatNotSatisfied, "the token does not allow capability \"\(capability)\" of \"\(service)\"")
        }
    }
}
