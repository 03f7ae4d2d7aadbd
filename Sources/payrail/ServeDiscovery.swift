import PayRailHTTP
import PayRailPaywall
import PayRailServer
import PayRailWire

extension ServeContext {
    /// `GET /openapi.json` (draft-payment-discovery-01): what the gate's pricing table sells, made from
    /// the running gate's own table and rails so it can never disagree with what the gate charges.
    func discoveryDocument() -> HTTPResponse {
        guard let gate = gates.current else {
            return Paywall.httpResponse(GateRefusal(status: 503, slug: "starting", title: "Starting",
                                                    detail: "the server is not bound yet", retryAfter: 1).response())
        }
        let configuration = gate.configuration
        let origin = configuration.publicOrigin
        let body = OpenAPIDiscovery.serialized(
            pricing: configuration.pricing, rails: configuration.rails.map(\.id), title: configuration.realm,
            version: PayRailVersion.current,
            serviceInfo: DiscoveryServiceInfo(docs: origin.map { ["apiReference": $0 + PaymentDiscovery.path] } ?? [:]),
            serverURL: origin)
        // The draft recommends five minutes: the table changes only when the server restarts.
        return HTTPResponse(headers: ["Content-Type": "application/json", "Cache-Control": "max-age=300"], body: body)
    }
}
