import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing
@testable import PayRailHTTP

@Suite("Router and middleware")
struct RouterTests {
    static func text(_ value: String) -> HTTPHandler { { _ in HTTPResponse(text: value) } }

    static let router: Router = {
        var router = Router()
        router.get("/", text("root"))
        router.get("/premium", text("premium"))
        router.post("/premium", text("posted"))
        router.get("/users/*/profile", text("profile"))
        router.get("/files/*", text("files"))
        return router
    }()

    func route(_ method: String, _ path: String) async -> HTTPResponse {
        await RouterTests.router.handle(HTTPRequest(method: method, path: path))
    }

    @Test func exactWildcardAndPrefixPatterns() async {
        #expect(await route("GET", "/").body == Array("root".utf8))
        #expect(await route("GET", "/premium").body == Array("premium".utf8))
        #expect(await route("POST", "/premium").body == Array("posted".utf8))
        #expect(await route("GET", "/users/42/profile").body == Array("profile".utf8))
        #expect(await route("GET", "/files/a").body == Array("files".utf8))
        #expect(await route("GET", "/files/a/b/c").body == Array("files".utf8))
        #expect(await route("HEAD", "/premium").status == .ok)
    }

    @Test func unknownPathIs404() async {
        #expect(await route("GET", "/premium/extra").status == .notFound)
        #expect(await route("GET", "/users/42").status == .notFound)
        #expect(await route("GET", "/users/42/profile/x").status == .notFound)
        #expect(await route("GET", "/files").status == .notFound)
        #expect(await route("GET", "/nope").status == .notFound)
        // Encoded slashes do not split segments.
        #expect(await route("GET", "/users/a%2Fb/profile").status == .ok)
    }

    @Test func knownPathWrongMethodIs405WithAllow() async {
        let response = await route("DELETE", "/premium")
        #expect(response.status == .methodNotAllowed)
        #expect(response.headers["allow"] == "GET, POST, HEAD")
    }

    @Test func routerOverTheWire() async throws {
        try await withServer(handler: RouterTests.router.handler) { _, port in
            let session = makeSession()
            #expect(try await fetch(session, port: port, "/premium").text == "premium")
            #expect(try await fetch(session, port: port, "/missing").status == 404)
            let wrong = try await fetch(session, port: port, "/premium", method: "PUT", body: Data("x".utf8))
            #expect(wrong.status == 405)
            #expect(wrong.headers["allow"] == "GET, POST, HEAD")
        }
    }

    @Test func middlewareRunsOutermostFirst() async {
        let trace = LineCollector()
        func layer(_ name: String) -> HTTPMiddleware {
            { request, next in
                trace.append("\(name) in")
                var response = await next(request)
                trace.append("\(name) out")
                response.headers.add("X-Layer", name)
                return response
            }
        }
        let handler = chain([layer("a"), layer("b")]) { _ in
            trace.append("handler")
            return HTTPResponse(text: "ok")
        }
        let response = await handler(HTTPRequest(method: "GET", path: "/"))
        #expect(trace.lines == ["a in", "b in", "handler", "b out", "a out"])
        #expect(response.headers.values(for: "x-layer") == ["b", "a"])
    }

    @Test func requestIDKeepsAPlainIDAndReplacesAHostileOne() async throws {
        let handler = chain([Middleware.requestID()]) { request in
            HTTPResponse(text: request.headers[Middleware.requestIDHeader] ?? "none")
        }
        let kept = await handler(HTTPRequest(method: "GET", path: "/", headers: ["x-request-id": "abc-123"]))
        #expect(kept.headers["X-Request-Id"] == "abc-123")
        #expect(kept.body == Array("abc-123".utf8))
        let hostile = await handler(HTTPRequest(method: "GET", path: "/", headers: ["X-Request-Id": "evil id; rm -rf"]))
        let fresh: String = try #require(hostile.headers["X-Request-Id"])
        #expect(fresh.count == 32)
        #expect(fresh != "evil id; rm -rf")
        let generated = await handler(HTTPRequest(method: "GET", path: "/"))
        #expect(generated.headers["X-Request-Id"]?.count == 32)
        #expect(generated.headers["X-Request-Id"] != fresh)
    }

    @Test func loggingWritesOneLineWithoutHeaderValuesOrQuery() async throws {
        let log = LineCollector()
        let handler = chain([Middleware.requestID(), Middleware.logging(log.sink)], handler: RouterTests.router.handler)
        try await withServer(handler: handler) { _, port in
            let result = try await fetch(
                makeSession(), port: port, "/premium?token=secret-query",
                headers: ["Authorization": "Payment secret-credential", "X-Request-Id": "req-7"]
            )
            #expect(result.status == 200)
            #expect(result.headers["x-request-id"] == "req-7")
            _ = try await fetch(makeSession(), port: port, "/missing")
        }
        let lines = log.lines
        #expect(lines.count == 2)
        let first = try #require(lines.first)
        #expect(first.hasPrefix("GET /premium 200 "))
        #expect(first.contains("id=req-7"))
        for line in lines {
            #expect(!line.contains("secret"))
            #expect(!line.contains("Payment"))
        }
        #expect(lines.last?.hasPrefix("GET /missing 404 ") == true)
    }

    @Test func headersLookUpCaseInsensitivelyAndKeepOrder() {
        var headers: HTTPHeaders = ["Content-Type": "a", "X-One": "1"]
        headers.add("x-one", "2")
        #expect(headers["CONTENT-type"] == "a")
        #expect(headers.values(for: "X-ONE") == ["1", "2"])
        headers.set("X-One", "3")
        #expect(headers.values(for: "x-one") == ["3"])
        #expect(headers.map(\.name) == ["Content-Type", "X-One"])
        headers.remove("content-type")
        #expect(!headers.contains("Content-Type"))
        #expect(headers.count == 1)
    }
}
