import PayRailHTTPClient
import PayRailWire

// The bounded exchange lives in PayRailHTTPClient, below the agent and the rails' adapters, so that
// every URLSession body PayRail reads is read the same way. The agent speaks `HTTPFields` (its
// codecs do); these names and conversions keep its code and tests as they were.

/// The bounded exchange the agent reads every answer through.
typealias HTTPExchange = PayRailHTTPClient.HTTPExchange
/// Whether a body is kept or streamed, and up to how many bytes.
typealias BodyHandling = PayRailHTTPClient.BodyHandling
/// Why an exchange gave no answer.
typealias ExchangeFailure = PayRailHTTPClient.ExchangeFailure
/// Where a streamed body goes (`PayingClient.send(_:streamingBodyTo:)`).
public typealias ResponseBodySink = PayRailHTTPClient.ResponseBodySink

extension HTTPFields {
    /// The fields of an exchange's answer, in order.
    init(_ fields: [HTTPExchange.Field]) {
        self.init(fields.map { ($0.name, $0.value) })
    }

    /// The fields as an exchange sends them, in order.
    var exchangeFields: [HTTPExchange.Field] {
        map { HTTPExchange.Field($0.name, $0.value) }
    }
}
