/// An incremental parser of `text/event-stream` (WHATWG HTML, "Server-sent events", parsing rules),
/// bounded: no event's data may pass `limit` bytes and no line may be longer (a hostile server cannot
/// make the client hold an endless line).
struct ServerSentEventParser: Sendable {
    /// One dispatched event.
    struct Event: Sendable, Equatable {
        var type: String
        var data: [UInt8]
    }

    /// Why the stream cannot be read further.
    struct Overflow: Error {}

    let limit: Int
    private var line: [UInt8] = []
    private var data: [UInt8] = []
    private var hasData = false
    private var type = ""
    private var lastWasCR = false

    init(limit: Int) { self.limit = limit }

    /// Feeds bytes; returns the events they completed.
    mutating func feed(_ bytes: some Sequence<UInt8>) throws(Overflow) -> [Event] {
        var events: [Event] = []
        for byte in bytes {
            if byte == UInt8(ascii: "\n") && lastWasCR {
                lastWasCR = false
                continue
            }
            lastWasCR = byte == UInt8(ascii: "\r")
            if byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r") {
                if let event = try endLine() { events.append(event) }
                continue
            }
            guard line.count < limit + 16 else { throw Overflow() }
            line.append(byte)
        }
        return events
    }

    private mutating func endLine() throws(Overflow) -> Event? {
        defer { line.removeAll(keepingCapacity: true) }
        if line.isEmpty {
            defer { data.removeAll(); hasData = false; type = "" }
            guard hasData else { return nil }
            return Event(type: type.isEmpty ? "message" : type, data: data)
        }
        if line.first == UInt8(ascii: ":") { return nil }
        let colon = line.firstIndex(of: UInt8(ascii: ":")) ?? line.endIndex
        let field = String(decoding: line[..<colon], as: UTF8.self)
        var value = colon < line.endIndex ? line[(colon + 1)...] : []
        if value.first == UInt8(ascii: " ") { value = value.dropFirst() }
        switch field {
        case "data":
            if hasData { data.append(UInt8(ascii: "\n")) }
            data.append(contentsOf: value)
            hasData = true
            guard data.count <= limit else { throw Overflow() }
        case "event":
            type = String(decoding: value, as: UTF8.self)
        default:
            // `id` and `retry` matter only to resumption, which this client does not use.
            break
        }
        return nil
    }
}
