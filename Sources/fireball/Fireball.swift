// The `fireball` command: argument parsing and wiring only; the work is in the libraries.
import ArgumentParser
import Core
import Foundation
import Node
import Transport

@main
struct Fireball: ParsableCommand {
    /// The one place the version is written (`fireball --version`, `fireball version`).
    static let version = "0.2.0"

    static let configuration = CommandConfiguration(
        commandName: "fireball",
        abstract: "A WebAssembly hypervisor for small boards, run as a cluster.",
        discussion: """
            Cluster commands find the inventory, certificates, state and boards through the configuration \
            file's current context (`fireball context --help`), so they work from any folder; flags override it.

            Examples:
              fireball run --board cortex-m33 hello.wasm -- 3 --env NAME=world
              fireball context set lab --inventory lab.yaml --certs ./certs && fireball context use lab
              fireball plan app.yaml && fireball apply app.yaml && fireball status
            """,
        version: Fireball.version,
        subcommands: [Version.self, ContextCommand.self, RunCommand.self, InspectCommand.self, MessageCommand.self, HALCommand.self, CertsCommand.self,
                      PlanCommand.self, NodeCommand.self,
                      ApplyCommand.self, StatusCommand.self, TopCommand.self, EventsCommand.self, LogsCommand.self, DrainCommand.self, CordonCommand.self, UncordonCommand.self,
                      DeleteCommand.self, ControllerCommand.self]
    )

    /// As ArgumentParser's `main`, except that an error a subcommand's `run()` throws is printed
    /// with that subcommand's usage: ArgumentParser attaches the command stack only to errors of
    /// parsing and `validate()`, so an error from `run()` would otherwise show the root's usage.
    static func main() {
        // A parent may hand down SIGINT and SIGTERM blocked (a test runner's thread does): unblocked,
        // Ctrl-C and `kill` stop the command (or reach its handlers) as the user expects.
        var stopSignals = sigset_t()
        sigemptyset(&stopSignals)
        sigaddset(&stopSignals, SIGINT)
        sigaddset(&stopSignals, SIGTERM)
        pthread_sigmask(SIG_UNBLOCK, &stopSignals, nil)
        var arguments = Array(CommandLine.arguments.dropFirst())
        // `fireball run M.wasm -- ARGS…`: the words after `--` are the guests' (RunCommand.afterTerminator).
        if arguments.first == "run", let terminator = arguments.firstIndex(of: "--") {
            RunCommand.afterTerminator = Array(arguments[(terminator + 1)...])
            arguments.removeSubrange(terminator...)
        }
        var command: ParsableCommand
        do { command = try parseAsRoot(arguments) } catch { exit(withError: error) }
        do { try command.run() } catch let error as ValidationError {
            let usage = usageString(for: type(of: command)).replacingOccurrences(of: "\n", with: "\n  ")
            let name = (CommandParserPath.names(of: type(of: command)) ).joined(separator: " ")
            note("Error: \(error.message)\nUsage: \(usage)\n  See 'fireball help \(name)' for more information.")
            Foundation.exit(ExitCode.validationFailure.rawValue)
        } catch {
            exit(withError: error)
        }
    }
}

/// The subcommand names from the root to a command type (for "see 'fireball help run'").
enum CommandParserPath {
    static func names(of command: ParsableCommand.Type) -> [String] {
        func search(_ node: ParsableCommand.Type, _ path: [String]) -> [String]? {
            if node == command { return path }
            for child in node.configuration.subcommands {
                let name = child.configuration.commandName ?? String(describing: child).lowercased()
                if let found = search(child, path + [name]) { return found }
            }
            return nil
        }
        return search(Fireball.self, []) ?? []
    }
}

struct Version: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the versions of Fireball and the libraries it links.",
        discussion: """
            Examples:
              fireball version
              fireball version -o json
            """)
    @OptionGroup var output: OutputOption

    struct Output: Encodable { let fireball: String; let libuv: String; let openssl: String; let tls13: Bool }

    func run() throws {
        let info = Output(fireball: Fireball.version, libuv: NativeLibraries.libuvVersion, openssl: NativeLibraries.openSSLVersion,
                          tls13: NativeLibraries.supportsTLS13)
        if output.structured { return try output.emit(info) }
        say("fireball \(info.fireball)")
        say("libuv \(info.libuv)")
        say(info.openssl + (info.tls13 ? " (TLS 1.3)" : " (no TLS 1.3!)"))
    }
}
