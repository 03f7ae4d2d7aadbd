import Foundation
import PayRailCrypto

/// What a transport hands up: a message, a message that could not be read, or the end.
public enum MCPInbound: Sendable {
    /// A well-formed message.
    case message(JSONRPCMessage)
    /// Bytes that were not a valid message (the server answers the failure; a client closes).
    case invalid(JSONRPCParseFailure)
    /// A request sent through this transport will get no answer (an HTTP POST that failed).
    case undelivered(MCPRequestID, MCPTransportError)
    /// The transport ended (the peer closed, the child process died); nothing more will arrive.
    case closed(MCPTransportError)
}

/// A bidirectional message channel (stdio, a child process, a Streamable HTTP client connection).
///
/// `start` is called once; the transport then delivers every inbound item to `receive`, in order, from
/// one task at a time, and ends with `.closed` exactly once.
public protocol MCPMessageTransport: Sendable {
    /// Starts reading; `receive` gets every inbound item in order.
    func start(_ receive: @escaping @Sendable (MCPInbound) async -> Void) async throws(MCPTransportError)
    /// Sends one message.
    ///
    /// - Throws: `MCPTransportError` saying whether any of the message may have left.
    func send(_ message: JSONRPCMessage) async throws(MCPTransportError)
    /// Closes the transport (ends a child process, a session); idempotent.
    func close() async
    /// Told the protocol revision `initialize` settled on (Streamable HTTP sends it as a header).
    func negotiated(protocolVersion: String) async
}

extension MCPMessageTransport {
    /// Most transports do not care which revision was negotiated.
    public func negotiated(protocolVersion: String) async {}
}

/// Splits a byte stream into newline-delimited messages (MCP stdio framing), never holding more
/// than `limit` bytes of one message: the rest of an oversized line is skipped and reported once.
struct LineFramer: Sendable {
    /// The largest message kept.
    let limit: Int
    private var buffer: [UInt8] = []
    private var skipping = false

    init(limit: Int) { self.limit = limit }

    /// One framed item: a complete line, or the news that a line was too long.
    enum Item: Sendable, Equatable {
        case line([UInt8])
        case oversized
    }

    /// Feeds bytes; returns the items they completed.
    mutating func feed(_ bytes: some Collection<UInt8>) -> [Item] {
        var items: [Item] = []
        for byte in bytes {
            if byte == UInt8(ascii: "\n") {
                if skipping {
                    skipping = false
                } else {
                    var line = buffer
                    if line.last == UInt8(ascii: "\r") { line.removeLast() }
                    if !line.isEmpty { items.append(.line(line)) }
                }
                buffer.removeAll(keepingCapacity: buffer.count <= 64 * 1024)
                continue
            }
            guard !skipping else { continue }
            if buffer.count >= limit {
                skipping = true
                buffer.removeAll()
                items.append(.oversized)
                continue
            }
            buffer.append(byte)
        }
        return items
    }

    /// Turns an item into what a transport delivers.
    static func inbound(_ item: Item, limit: Int) -> MCPInbound {
        switch item {
        case .oversized:
            return .invalid(JSONRPCParseFailure(id: nil, error: MCPError(code: MCPError.parseError, message: "message larger than \(limit) bytes")))
        case .line(let bytes):
            do throws(JSONRPCParseFailure) {
                return .message(try JSONRPCCodec.decode(bytes, limit: limit))
            } catch {
                return .invalid(error)
            }
        }
    }
}

/// A small lock-guarded box for state shared with non-async callbacks (reader threads, URLSession).
final class Locked<Value>: @unchecked Sendable {
    // @unchecked: every access goes through `lock`.
    private let lock = NSLock()
    private var value: Value

    init(_ value: Value) { self.value = value }

    func withLock<T>(_ body: (inout Value) throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}

/// Delivers inbound items to an async receiver in order, from any thread (reader threads cannot await).
///
/// A reader thread uses `yieldWaiting`, which blocks while `capacity` items wait to be taken: a peer
/// sending faster than they are handled fills the pipe, not this process's memory.
final class InboundPump: Sendable {
    private let continuation: AsyncStream<(MCPInbound, Bool)>.Continuation
    private let task: Task<Void, Never>
    private let room: DispatchSemaphore

    init(capacity: Int = 64, _ receive: @escaping @Sendable (MCPInbound) async -> Void) {
        let (stream, continuation) = AsyncStream<(MCPInbound, Bool)>.makeStream(bufferingPolicy: .unbounded)
        let room = DispatchSemaphore(value: capacity)
        self.continuation = continuation
        self.room = room
        task = Task {
            for await (item, tookRoom) in stream {
                await receive(item)
                if tookRoom { room.signal() }
                if case .closed = item { break }
            }
        }
    }

    /// Hands on an item without waiting (callers that must not block; their input is bounded otherwise).
    func yield(_ item: MCPInbound) {
        continuation.yield((item, false))
        if case .closed = item { continuation.finish() }
    }

    /// Hands on an item, first waiting (blocking the calling thread) for room.
    func yieldWaiting(_ item: MCPInbound) {
        room.wait()
        continuation.yield((item, true))
        if case .closed = item { continuation.finish() }
    }
}
