import Foundation
import PayRail
import PayRailReceipts
import PayRailWire
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Where the agent gets the keys that check a server's receipts.
public enum ReceiptKeySource: Sendable {
    /// Fetch each server's `/.well-known/payrail/jwks.json` and keep it for `cacheSeconds`; an
    /// unknown `kid` refetches once (the server rotated its key).
    case wellKnown(cacheSeconds: TimeInterval)
    /// Only these keys, for every server: the owner pinned them.
    case pinned(ReceiptKeySet)

    /// The path servers publish their receipt keys at.
    public static let wellKnownPath = "/.well-known/payrail/jwks.json"
}

/// Checks receipts against the keys of the server that issued them, caching fetched key sets.
actor ReceiptKeyResolver {
    private struct Cached {
        let verifier: ReceiptVerifier
        let fetchedAt: Date
    }

    private let source: ReceiptKeySource
    private let exchange: HTTPExchange
    private let maxKeySetBytes: Int
    private let clock: any PayRailClock
    private var cache: [String: Cached] = [:]

    /// `session` must be one `HTTPExchange` made (its delegate bounds the key set while it arrives).
    init(source: ReceiptKeySource, session: URLSession, maxKeySetBytes: Int, clock: any PayRailClock) {
        self.source = source
        self.exchange = HTTPExchange(session: session, timeout: 10)
        self.maxKeySetBytes = maxKeySetBytes
        self.clock = clock
    }

    /// Checks `token` for `resource` (e.g. `GET /premium`) as issued by the server at `url`'s origin.
    func check(_ token: String, resource: String, from url: URL) async -> ReceiptCheck {
        switch source {
        case .pinned(let keys):
            return Self.verify(token, resource: resource, with: ReceiptVerifier(keys: keys, clock: clock))
        case .wellKnown(let cacheSeconds):
            guard let origin = Self.origin(of: url) else { return .unverifiable("the URL has no origin") }
            let now = clock.now()
            if let cached = cache[origin], now.timeIntervalSince(cached.fetchedAt) < cacheSeconds {
                do {
                    return .verified(try cached.verifier.verify(token, resource: resource))
                } catch {
                    // A kid we do not know may be a rotated key: refetch once before calling it invalid.
                    if error.code != .unknownKeyID { return .invalid("\(error.code): \(error)") }
                }
            }
            switch await fetch(origin) {
            case .failure(let reason):
                return .unverifiable(reason)
            case .success(let verifier):
                cache[origin] = Cached(verifier: verifier, fetchedAt: now)
                return Self.verify(token, resource: resource, with: verifier)
            }
        }
    }

    private enum Fetched {
        case success(ReceiptVerifier)
        case failure(String)
    }

    /// Fetches a key set, reading at most `maxKeySetBytes` of it and stopping at the call's deadline.
    private func fetch(_ origin: String) async -> Fetched {
        guard let url = URL(string: origin + ReceiptKeySource.wellKnownPath) else { return .failure("bad origin") }
        let limit = maxKeySetBytes
        let response: HTTPExchange.Response
        do {
            response = try await exchange.send(method: "GET", url: url, headers: [], body: nil,
                                               deadline: CallBounds.current?.deadline, handling: { _, _ in .buffer(limit: limit) })
        } catch {
            switch error {
            case .deadline: return .failure("the call's deadline passed before the server's receipt keys came")
            case .notSent(let reason), .transport(let reason): return .failure("the server's receipt keys could not be read (\(reason))")
            }
        }
        guard response.status == 200 else {
            return .failure("the server publishes no receipt keys at \(ReceiptKeySource.wellKnownPath)")
        }
        guard !response.truncated else { return .failure("the server's key set is larger than \(limit / 1024) KB") }
        do {
            let keys = try ReceiptKeySet(jwksJSON: Data(response.body))
            return .success(ReceiptVerifier(keys: keys, clock: clock))
        } catch {
            return .failure("the server's receipt keys could not be read (\(type(of: error)))")
        }
    }

    private static func verify(_ token: String, resource: String, with verifier: ReceiptVerifier) -> ReceiptCheck {
        do {
            return .verified(try verifier.verify(token, resource: resource))
        } catch {
            return .invalid("\(error.code): \(error)")
        }
    }

    static func origin(of url: URL) -> String? {
        guard let scheme = url.scheme?.lowercased(), let host = url.host else { return nil }
        let bracketed = host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
        return url.port.map { "\(scheme)://\(bracketed):\($0)" } ?? "\(scheme)://\(bracketed)"
    }
}
