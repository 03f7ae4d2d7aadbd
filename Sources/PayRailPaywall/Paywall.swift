import PayRail
import PayRailCrypto
import PayRailHTTP
import PayRailServer
import PayRailWire

/// The `Gate` as `PayRailHTTP` middleware: handlers behind it run only for free routes and paid
/// requests, and every 402, 429, 409, replay and refusal is answered before they are called.
///
/// ```swift
/// let handler = chain([Middleware.requestID(), Paywall.middleware(gate)], handler: router.handler)
/// ```
///
/// The request target is put in canonical form first (`RequestTarget`): the gate prices that form and
/// the handler behind gets exactly that request, with method-override fields removed, so what is
/// priced and what is served cannot differ; a target with no safe canonical form is answered 400.
///
/// A handler behind the paywall reads what was paid from `Paywall.pass`. The paid response (status
/// below 500) is stored for replay by receipt, so an agent presenting its receipt again gets it
/// without paying twice; a 5xx is not stored, so the receipt can fetch the resource again once the
/// handler recovers (the payment was settled before the handler ran).
public enum Paywall {
    /// The gate's pass for the request being handled (free or paid), set while the handler behind
    /// the paywall runs; `nil` outside it.
    @TaskLocal public static var pass: GatePass?

    /// Middleware that asks `gate` about every request.
    ///
    /// - Parameter onDecision: called with every decision (metrics, tests); never with secrets beyond
    ///   what the decision itself holds.
    public static func middleware(_ gate: Gate, onDecision: (@Sendable (GateDecision) -> Void)? = nil) -> HTTPMiddleware {
        middleware(resolving: { gate }, onDecision: onDecision)
    }

    /// Middleware whose gate is resolved per request, for servers that create the gate after
    /// binding (its public origin names the port); answers 503 with `Retry-After` until it exists.
    public static func middleware(
        resolving gate: @escaping @Sendable () -> Gate?, onDecision: (@Sendable (GateDecision) -> Void)? = nil
    ) -> HTTPMiddleware {
        { received, next in
            guard let gate = gate() else {
                return httpResponse(GateRefusal.starting.response())
            }
            let request: HTTPRequest
            switch canonical(received) {
            case .success(let canonical): request = canonical
            case .failure(let refusal): return httpResponse(refusal.response())
            }
            let decision = await gate.handle(gateRequest(request))
            onDecision?(decision)
            switch decision {
            case .respond(let response), .replay(let response):
                return httpResponse(response)
            case .pass(let pass):
                var response = await $pass.withValue(pass) { await next(request) }
                guard !pass.isFree else { return response }
                // The receipt fields carry `Cache-Control: private`; the handler's (an upstream's) own
                // directives are merged in, never left to make a paid answer shareable (`ReceiptCaching`).
                let handlerCaching = response.headers.values(for: ReceiptCaching.fieldName)
                for field in pass.responseHeaders { response.headers.set(field.name, field.value) }
                response.headers.set(ReceiptCaching.fieldName, ReceiptCaching.cacheControl(merging: handlerCaching))
                for name in ReceiptCaching.sharedCacheFields { response.headers.remove(name) }
                // No Payment-Receipt on an error (`ReceiptCaching.applied(to:status:)` says why).
                if response.status.code >= 400 { response.headers.remove(ReceiptCaching.standardReceiptFieldName) }
                // A 5xx, a timeout or a rate limit is not the resource, and a HEAD answer has no body:
                // storing them would replay them for the whole grant instead of the resource.
                let status = response.status.code
                if status < 500, status != 408, status != 429, request.method != "HEAD" {
                    var stored = HTTPFields()
                    for field in response.headers where field.name.lowercased() != Middleware.requestIDHeader.lowercased() {
                        stored.append(field.name, field.value)
                    }
                    do {
                        try await gate.complete(pass, response: GateResponse(status: response.status.code, headers: stored, body: response.body))
                    } catch {
                        // A charge already final stands even if the store fails: the receipt then
                        // regrants on replay. An authorization whose capture failed paid for nothing:
                        // the response is withheld (fail closed), nothing was charged.
                        if pass.grant?.settlement.kind.isFinal == false { return httpResponse(GateRefusal.captureFailed.response()) }
                    }
                } else {
                    await gate.abandon(pass)
                }
                return response
            }
        }
    }

    /// `request` with its method and target in canonical form (`RequestTarget`) and without the
    /// fields that would make a server treat it as another method or path, or the 400 refusal of a
    /// target that has no safe canonical form. Canonical requests come back unchanged.
    public static func canonical(_ request: HTTPRequest) -> Result<HTTPRequest, GateRefusal> {
        let target: RequestTarget
        do throws(GateRefusal) { target = try RequestTarget(method: request.method, path: request.path, query: request.query) } catch {
            return .failure(error)
        }
        var canonical = request
        canonical.path = target.path
        for name in RequestTarget.overrideFields where canonical.headers.contains(name) { canonical.headers.remove(name) }
        return .success(canonical)
    }

    /// The gate's view of an HTTP request: the path with its query (a price covers both), every
    /// header, the client address, and an RFC 9530 `sha-256` digest of a non-empty body so a paid
    /// POST cannot be replayed with another body.
    public static func gateRequest(_ request: HTTPRequest) -> GateRequest {
        var fields = HTTPFields()
        for field in request.headers { fields.append(field.name, field.value) }
        let target = request.query.isEmpty ? request.path : request.path + "?" + request.query
        let digest = request.body.isEmpty ? nil : "sha-256=:" + Base64.encode(SHA256.hash(request.body)) + ":"
        return GateRequest(method: request.method, path: target, headers: fields, clientAddress: request.clientAddress, bodyDigest: digest,
                           body: request.body)
    }

    /// A gate response as an HTTP response.
    public static func httpResponse(_ response: GateResponse) -> HTTPResponse {
        // One array of the final size: a 402 has five or more fields, appending grew it three times.
        let headers = HTTPHeaders(response.headers.map { HTTPHeader(name: $0.name, value: $0.value) })
        return HTTPResponse(status: HTTPStatus(code: response.status), headers: headers, body: response.body)
    }
}
