import Foundation
import PayRailWire
import Testing

@Suite("L402 caveats: services, expiry and capabilities as aperture checks them")
struct L402CaveatTests {
    static let now = Date(timeIntervalSince1970: 1_767_225_000)

    func code(_ predicates: [String], service: String = "weather", capability: String? = nil,
              now: Date = L402CaveatTests.now) -> WireError.Code? {
        do {
            try L402CaveatChecker(service: service, capability: capability, now: now).check(predicates)
            return nil
        } catch { return error.code }
    }

    @Test("Caveats are written as aperture writes them")
    func writing() throws {
        let services = try L402Caveat.services([try L402Service(name: "weather"), try L402Service(name: "maps", tier: 7)])
        #expect(services.predicate == "services=weather:0,maps:7")
        #expect(L402Caveat.validUntil(service: "weather", Date(timeIntervalSince1970: 1_767_225_600.9)).predicate
                == "weather_valid_until=1767225600")
        #expect(L402Caveat.capabilities(service: "weather", ["forecast", "history"]).predicate == "weather_capabilities=forecast,history")
        #expect(throws: WireError.self) { _ = try L402Caveat.services([]) }
        for bad in ["", "a,b", "a:b"] { #expect(throws: WireError.self) { _ = try L402Service(name: bad) } }
        let parsed = try L402Caveat(parsing: "weather_capabilities=a=b")
        #expect(parsed.condition == "weather_capabilities" && parsed.value == "a=b")
        #expect(throws: WireError.self) { _ = try L402Caveat(parsing: "no equals sign") }
    }

    @Test("Services lists parse strictly")
    func servicesList() throws {
        #expect(try L402Service.parseList("weather:0,maps:255") == [try L402Service(name: "weather"), try L402Service(name: "maps", tier: 255)])
        for bad in ["", "weather", "weather:", ":0", "weather:256", "weather:-1", "weather:+1", "weather:0,", "a:0:1", "weather:0x1"] {
            #expect(throws: WireError.self, "\(bad)") { _ = try L402Service.parseList(bad) }
        }
    }

    @Test("The service must be named by the last services caveat; narrowing is fine, widening is refused")
    func services() {
        #expect(code(["services=weather:0"]) == nil)
        #expect(code(["services=maps:0,weather:1"]) == nil)
        #expect(code(["services=maps:0"]) == .caveatNotSatisfied)
        #expect(code(["services=weather:0,maps:0", "services=weather:0"]) == nil)
        #expect(code(["services=weather:0,maps:0", "services=maps:0"]) == .caveatNotSatisfied)
        #expect(code(["services=maps:0", "services=maps:0,weather:0"]) == .caveatNotSatisfied)
        #expect(code(["services=weather"]) == .caveatNotSatisfied)
        #expect(code([]) == nil)  // no services caveat: valid for every service, as in aperture
    }

    @Test("Expiry: valid strictly before the last valid_until; a later repeat may only shorten it")
    func expiry() {
        #expect(code(["weather_valid_until=1767225001"]) == nil)
        #expect(code(["weather_valid_until=1767225000"]) == .expired)
        #expect(code(["weather_valid_until=1767224999"]) == .expired)
        #expect(code(["weather_valid_until=1767225600", "weather_valid_until=1767225300"]) == nil)
        #expect(code(["weather_valid_until=1767225600", "weather_valid_until=1767225000"]) == .expired)
        #expect(code(["weather_valid_until=1767225300", "weather_valid_until=1767225600"]) == .caveatNotSatisfied)
        #expect(code(["weather_valid_until=soon"]) == .caveatNotSatisfied)
        #expect(code(["weather_valid_until=-5"]) == .caveatNotSatisfied)
        #expect(code(["weather_valid_until=99999999999999999999"]) == .caveatNotSatisfied)
        #expect(code(["maps_valid_until=1"]) == nil)  // another service's expiry is not ours to judge
        #expect(code(["weather_valid_until=1767225600"], now: Date(timeIntervalSince1970: 1_767_225_600)) == .expired)
    }

    @Test("Capabilities: the requested one must be in the last caveat; an empty value allows none")
    func capabilities() {
        #expect(code(["weather_capabilities=forecast,history"], capability: "forecast") == nil)
        #expect(code(["weather_capabilities=forecast,history"], capability: "admin") == .caveatNotSatisfied)
        #expect(code(["weather_capabilities="], capability: "forecast") == .caveatNotSatisfied)
        #expect(code(["weather_capabilities="]) == nil)
        #expect(code([], capability: "forecast") == nil)  // absent: all capabilities
        #expect(code(["weather_capabilities=forecast,history", "weather_capabilities=history"], capability: "forecast") == .caveatNotSatisfied)
        #expect(code(["weather_capabilities=history", "weather_capabilities=history,forecast"]) == .caveatNotSatisfied)
        #expect(code(["maps_capabilities=x"], capability: "forecast") == nil)
    }

    @Test("Unknown caveats and caveats without '=' are skipped, as in aperture")
    func unknown() {
        #expect(code(["preimage=00", "loop_out_monthly_volume_sats=200000000", "garbage", "services=weather:0"]) == nil)
    }
}
