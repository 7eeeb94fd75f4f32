// The `fireball` command: argument parsing and wiring only; the work is in the libraries.
import ArgumentParser
import Core
import Node
import Transport

@main
struct Fireball: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fireball",
        abstract: "A WebAssembly hypervisor for small boards, run as a cluster.",
        subcommands: [Version.self, RunCommand.self, InspectCommand.self, MessageCommand.self, HALCommand.self, CertsCommand.self,
                      PlanCommand.self, NodeCommand.self,
                      ApplyCommand.self, StatusCommand.self, TopCommand.self, EventsCommand.self, LogsCommand.self, DrainCommand.self, DeleteCommand.self, ControllerCommand.self]
    )
}

struct Version: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the versions of Fireball and the libraries it links.")
    func run() {
        print("fireball 0.1.0")
        print("libuv \(NativeLibraries.libuvVersion)")
        print(NativeLibraries.openSSLVersion + (NativeLibraries.supportsTLS13 ? " (TLS 1.3)" : " (no TLS 1.3!)"))
    }
}
