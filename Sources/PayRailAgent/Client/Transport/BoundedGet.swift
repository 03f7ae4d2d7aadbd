import Foundation
import PayRailWire
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// One GET whose body is counted while it arrives and dropped past a limit, with one deadline and no
/// redirect followed: for documents a server chooses the size of (a discovery document, a key set).
///
/// It is the agent's own exchange (`HTTPExchange`), so it stops as the agent does: a declared
/// `Content-Length` over the limit before any byte is read, an undeclared one at the limit, and the
/// caller is answered at once while URLSession's late chunks are dropped.
public enum BoundedGet {
    /// What came back.
    public struct Answer: Sendable {
        /// The HTTP status.
        public let status: Int
        /// The answer's header fields.
        public let headers: HTTPFields
        /// At most the limit's bytes of the body.
        public let body: [UInt8]
        /// Whether the body was larger than the limit (`body` is then only its start, or empty when the
        /// declared length was already over it).
        public let truncated: Bool
    }

    /// Why no answer came back; both are safe to retry.
    public enum Failure: Error, Sendable, CustomStringConvertible {
        /// The deadline passed first.
        case deadline
        /// No complete answer (connection refused or reset, an idle timeout).
        case transport(String)

        /// One line for a person.
        public var description: String {
            switch self {
            case .deadline: return "no complete answer before the deadline"
            case .transport(let reason): return "no HTTP answer (\(reason))"
            }
        }
    }

    /// `GET url` with `headers`, keeping at most `limit` body bytes, all within `timeout`.
    public static func get(_ url: URL, headers: HTTPFields = HTTPFields(), limit: Int, timeout: Duration) async throws(Failure) -> Answer {
        let session = HTTPExchange.makeSession()
        defer { session.finishTasksAndInvalidate() }
        let seconds = TimeInterval(timeout.components.seconds)
        let exchange = HTTPExchange(session: session, timeout: max(1, seconds))
        do {
            let response = try await exchange.send(
                method: "GET", url: url, headers: headers.exchangeFields, body: nil, deadline: .now + timeout,
                handling: { _, _ in .buffer(limit: limit) })
            return Answer(status: response.status, headers: HTTPFields(response.headers), body: response.body, truncated: response.truncated)
        } catch {
            switch error {
            case .deadline: throw .deadline
            case .notSent(let reason), .transport(let reason): throw .transport(reason)
            }
        }
    }
}
