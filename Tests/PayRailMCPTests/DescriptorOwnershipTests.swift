import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import PayRailMCP

// A stdio channel is handed descriptor numbers it does not own. Once their owner closes one, the
// process gives the number to the next pipe or socket it opens; a channel still using the bare
// number then reads that other connection's messages (a proxy that reopened its MCP upstream hung
// this way in CI) or writes into it. The channel works on duplicates of its own.

@Suite("stdio channel descriptors")
struct DescriptorOwnershipTests {
    @Test("a channel keeps reading the pipe it was given after its number is closed and reused, and never the new pipe")
    func readsItsOwnPipeNotAReusedNumber() async throws {
        let given = Pipe()
        let output = Pipe()
        let transport = MCPStdioTransport(input: given.fileHandleForReading.fileDescriptor,
                                          output: output.fileHandleForWriting.fileDescriptor)
        // The owner closes its read end; the same number now names another pipe.
        let number = given.fileHandleForReading.fileDescriptor
        try given.fileHandleForReading.close()
        let other = Pipe()
        #expect(dup2(other.fileHandleForReading.fileDescriptor, number) == number)
        defer { close(number) }

        let received = Recorder<String>()
        try await transport.start { inbound in
            if case .message(.notification(let method, _)) = inbound { received.append(method) }
        }
        other.fileHandleForWriting.write(Data(#"{"jsonrpc":"2.0","method":"for-the-other-pipe"}"#.utf8 + [0x0A]))
        given.fileHandleForWriting.write(Data(#"{"jsonrpc":"2.0","method":"for-the-channel"}"#.utf8 + [0x0A]))
        for _ in 0..<250 where received.all.isEmpty { try await Task.sleep(for: .milliseconds(20)) }
        #expect(received.all == ["for-the-channel"])

        // The other pipe's line is still there for its own reader.
        var poller = pollfd(fd: number, events: Int16(POLLIN), revents: 0)
        #expect(poll(&poller, 1, 2_000) == 1)
        var buffer = [UInt8](repeating: 0, count: 256)
        let count = buffer.withUnsafeMutableBytes { read(number, $0.baseAddress, $0.count) }
        #expect(count > 0 && String(decoding: buffer[0..<max(count, 0)], as: UTF8.self).contains("for-the-other-pipe"))
        try given.fileHandleForWriting.close()
        await transport.close()
    }
}
