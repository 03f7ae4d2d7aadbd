import PayRail
import Testing
@testable import payrail

/// The registry is what a new rail (Stripe, next) plugs into; these checks catch the mistakes that
/// would otherwise only show as a reshuffled `--help` or a flag that silently parses for no one.
@Suite("rail command registry: every rail's flags have one name and one place")
struct RailCommandRegistryTests {
    @Test("no two options of serve or fetch share a name, and each rail option sits after its anchor")
    func optionsAreUniqueAndPlaced() {
        for (role, command) in [(RailRole.payee, ServeCommand.serve), (RailRole.payer, AgentCommands.fetch)] {
            let names = command.options.map(\.name)
            #expect(Set(names).count == names.count, "duplicate option in payrail \(command.path.joined(separator: " "))")
            for type in RailCommandRegistry.all {
                for option in type.options(for: role) {
                    let position = names.firstIndex(of: option.spec.name)
                    #expect(position != nil, "--\(option.spec.name) is missing")
                    if let anchor = option.after, let position {
                        let anchorPosition = names.firstIndex(of: anchor)
                        #expect(anchorPosition != nil, "--\(option.spec.name) is placed after --\(anchor), which the command lacks")
                        #expect((anchorPosition ?? names.count) < position)
                    }
                }
            }
        }
    }

    @Test("--rail: default, order kept, duplicates dropped, an unknown name is a usage error")
    func railNames() throws {
        #expect(try RailCommandRegistry.rails([]) == [.fake])
        #expect(try RailCommandRegistry.rails(["lightning, fake", "fake"]) == [.lightning, .fake])
        #expect(throws: CommandFailure.self) { try RailCommandRegistry.rails(["card"]) }
        #expect(Set(RailCommandRegistry.all.map { $0.rail.rawValue }).count == RailCommandRegistry.all.count)
    }
}
