import Foundation
import PayRailCrypto

/// What a connection does with the requests and notifications the other side sends.
struct JSONRPCHandlers: Sendable {
    /// Answers one request; nil sends nothing (the request was cancelled).
    var request: @Sendable (_ id: MCPRequestID, _ method: String, _ params: [String: JSONValue]?) async -> Result<JSONValue, MCPError>?
    /// Takes one notification (`notifications/cancelled` is handled by the connection first).
    var notification: @Sendable (_ method: String, _ params: [String: JSONValue]?) async -> Void
    /// Whether a message that could not be read is answered (a server) or ends the connection (a client).
    var answersInvalidMessages: Bool
    /// Told once when the connection ends.
    var closed: @Sendable (MCPTransportError) async -> Void = { _ in }
}

/// Both directions of JSON-RPC over one `MCPMessageTransport`: our requests matched to their answers
/// (with a deadline each), the other side's requests run as tasks that `notifications/cancelled`
/// cancels (MCP 2025-11-25 basic/utilities/cancellation: no answer is sent for a cancelled request).
actor JSONRPCConnection {
    private let transport: any MCPMessageTransport
    private var handlers: JSONRPCHandlers?
    private var nextID: Int64 = 1
    private var pending: [MCPRequestID: CheckedContinuation<Result<JSONValue, MCPError>, any Error>] = [:]
    private var running: [MCPRequestID: Task<Void, Never>] = [:]
    private var cancelledInbound: Set<MCPRequestID> = []
    private var ended: MCPTransportError?
    /// Most requests from the other side running at once; more are refused (a flood cannot grow tasks).
    let maxRunning: Int

    init(transport: any MCPMessageTransport, maxRunning: Int = 256) {
        self.transport = transport
        self.maxRunning = maxRunning
    }

    /// Starts reading with `handlers`.
    func start(_ handlers: JSONRPCHandlers) async throws(MCPTransportError) {
        self.handlers = handlers
        try await transport.start { [weak self] inbound in await self?.receive(inbound) }
    }

    /// Why the connection ended, or nil while it is open.
    var endReason: MCPTransportError? { ended }

    /// Sends a request and waits for its answer.
    ///
    /// - Throws: `MCPTransportError`: not sent (`mayHaveBeenDelivered` false), or no answer within
    ///   `timeout`, the task cancelled, or the connection ended (may have been delivered; a
    ///   `notifications/cancelled` is sent for the first two).
    func request(_ method: String, params: [String: JSONValue]?, timeout: Duration) async throws(MCPTransportError) -> Result<JSONValue, MCPError> {
        if let ended { throw MCPTransportError(reason: ended.reason, mayHaveBeenDelivered: false) }
        let id = MCPRequestID.number(nextID)
        nextID += 1
        let timer = Task { [weak self] in
            try? await Task.sleep(for: timeout)
            guard !Task.isCancelled else { return }
            await self?.abandon(id, reason: "no answer to \(method) within \(timeout)")
        }
        defer { timer.cancel() }
        do {
            return try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { continuation in
                    pending[id] = continuation
                    if Task.isCancelled {
                        // Cancelled before the handler below could see this request: never send it.
                        pending.removeValue(forKey: id)?.resume(throwing: MCPTransportError(
                            reason: "the caller cancelled \(method)", mayHaveBeenDelivered: false))
                        return
                    }
                    Task { await self.deliver(.request(id: id, method: method, params: params), for: id) }
                }
            } onCancel: {
                Task { await self.abandon(id, reason: "the caller cancelled \(method)") }
            }
        } catch let error as MCPTransportError {
            throw error
        } catch {
            throw MCPTransportError(reason: "\(error)", mayHaveBeenDelivered: true)
        }
    }

    /// Sends a notification.
    func notify(_ method: String, params: [String: JSONValue]?) async throws(MCPTransportError) {
        if let ended { throw MCPTransportError(reason: ended.reason, mayHaveBeenDelivered: false) }
        try await transport.send(.notification(method: method, params: params))
    }

    /// Closes the transport; pending requests fail.
    func close() async {
        await transport.close()
        end(MCPTransportError(reason: "the connection was closed", mayHaveBeenDelivered: true))
    }

    private func deliver(_ message: JSONRPCMessage, for id: MCPRequestID) async {
        do throws(MCPTransportError) {
            try await transport.send(message)
        } catch {
            pending.removeValue(forKey: id)?.resume(throwing: error)
        }
    }

    /// Gives up on our request `id` (a deadline, a cancelled caller) and tells the other side.
    private func abandon(_ id: MCPRequestID, reason: String) async {
        guard let continuation = pending.removeValue(forKey: id) else { return }
        continuation.resume(throwing: MCPTransportError(reason: reason, mayHaveBeenDelivered: true))
        let params: [String: JSONValue] = ["requestId": id.json, "reason": .string(reason)]
        // A task of its own: the caller's (or the timer's) task is being cancelled, which must not
        // cancel the message that tells the server.
        let transport = self.transport
        Task { try? await transport.send(.notification(method: "notifications/cancelled", params: params)) }
    }

    private func end(_ error: MCPTransportError) {
        guard ended == nil else { return }
        ended = error
        for continuation in pending.values { continuation.resume(throwing: error) }
        pending.removeAll()
        for task in running.values { task.cancel() }
    }

    private func receive(_ inbound: MCPInbound) async {
        guard let handlers else { return }
        switch inbound {
        case .message(let message):
            await receive(message, handlers: handlers)
        case .invalid(let failure):
            if handlers.answersInvalidMessages {
                try? await transport.send(failure.answer)
            } else {
                end(MCPTransportError(reason: "the peer sent an unreadable message: \(failure.error.message)", mayHaveBeenDelivered: true))
                await transport.close()
                await handlers.closed(MCPTransportError(reason: "unreadable message", mayHaveBeenDelivered: true))
            }
        case .undelivered(let id, let error):
            pending.removeValue(forKey: id)?.resume(throwing: error)
        case .closed(let error):
            end(error)
            await handlers.closed(error)
        }
    }

    private func receive(_ message: JSONRPCMessage, handlers: JSONRPCHandlers) async {
        switch message {
        case .response(let id, let result):
            pending.removeValue(forKey: id)?.resume(returning: .success(result))
        case .errorResponse(let id?, let error):
            pending.removeValue(forKey: id)?.resume(returning: .failure(error))
        case .errorResponse(nil, _):
            break
        case .notification("notifications/cancelled", let params):
            guard let raw = params?["requestId"], let id = try? JSONRPCCodec.requestID(raw), let task = running[id] else { return }
            cancelledInbound.insert(id)
            task.cancel()
        case .notification(let method, let params):
            await handlers.notification(method, params)
        case .request(let id, let method, let params):
            guard running[id] == nil else {
                try? await transport.send(.errorResponse(id: id, error: MCPError(code: MCPError.invalidRequest, message: "request id \(id) is already in use")))
                return
            }
            guard running.count < maxRunning else {
                try? await transport.send(.errorResponse(id: id, error: MCPError(code: MCPError.internalError, message: "too many requests at once; retry later")))
                return
            }
            running[id] = Task { [weak self] in
                let answer = await handlers.request(id, method, params)
                await self?.finish(id, answer: answer)
            }
        }
    }

    private func finish(_ id: MCPRequestID, answer: Result<JSONValue, MCPError>?) async {
        running.removeValue(forKey: id)
        guard !cancelledInbound.contains(id) else {
            cancelledInbound.remove(id)
            return
        }
        guard let answer else { return }
        switch answer {
        case .success(let result): try? await transport.send(.response(id: id, result: result))
        case .failure(let error): try? await transport.send(.errorResponse(id: id, error: error))
        }
    }
}
