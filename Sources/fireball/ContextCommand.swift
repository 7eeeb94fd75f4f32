// `fireball context`: the configuration file's named clusters (as kubectl's contexts), so that cluster
// commands need no path flags from any folder.
import ArgumentParser
import Foundation
import Orchestrator

struct ContextCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "context",
        abstract: "List, choose, define and show the named clusters of the configuration file.",
        discussion: """
            The configuration file is --config, else $FIREBALL_CONFIG, else $XDG_CONFIG_HOME/fireball/config.yaml \
            (~/.config/fireball/config.yaml). Each context names an inventory, a certificate directory, an \
            orchestrator state directory and optionally a boards directory; relative paths in the file are \
            relative to the file. A context without `state:` keeps its state in \
            $XDG_STATE_HOME/fireball/NAME (~/.local/state/fireball/NAME). Flags of a command override the context.

            Examples:
              fireball context set lab --inventory ~/lab/cluster.yaml --certs ~/lab/certs
              fireball context use lab
              fireball context list
              fireball context show -o yaml
            """,
        subcommands: [List.self, Use.self, SetContext.self, Show.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The contexts, the current one marked with *.",
            discussion: "Examples:\n  fireball context list\n  fireball context list -o json")
        @OptionGroup var selection: ConfigSelection
        @OptionGroup var output: OutputOption

        func run() throws {
            let (file, _) = try selection.load()
            if output.structured {
                struct Output: Encodable { let file: String; let current: String?; let contexts: [String] }
                return try output.emit(Output(file: file.file, current: file.currentContext, contexts: file.contexts.map(\.name)))
            }
            if file.contexts.isEmpty {
                note("no contexts in \(file.file); add one with `fireball context set NAME --inventory FILE --certs DIR`")
                return
            }
            for context in file.contexts {
                say("\(context.name == file.currentContext ? "*" : " ") \(context.name)\t\(context.inventory.map(file.resolved) ?? "-")")
            }
        }
    }

    struct Use: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make a context the current one.", discussion: "Examples:\n  fireball context use lab")
        @Argument(help: "The context's name.") var name: String
        @OptionGroup var selection: ConfigSelection

        func run() throws {
            var (file, _) = try selection.load()
            guard file.context(name) != nil else {
                throw ValidationError("no context '\(name)' in \(file.file) (contexts: \(file.contexts.isEmpty ? "none" : file.contexts.map(\.name).joined(separator: ", ")))")
            }
            file.currentContext = name
            do { try file.save() } catch { throw failure("cannot write \(file.file): \(error)") }
            say("current context: \(name) (\(file.file))")
        }
    }

    struct SetContext: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set",
            abstract: "Create or change a context; paths given here are taken relative to the current folder and stored absolute.",
            discussion: """
                The first context set becomes the current one. Options not given keep their value.

                Examples:
                  fireball context set local --inventory Deploy/clusters/local.yaml --certs certs --state .fireball/orchestrator
                  fireball context set lab --boards ~/lab/boards
                """)
        @Argument(help: "The context's name: letters, digits, '-', '_', '.'.") var name: String
        @OptionGroup var selection: ConfigSelection
        @Option(help: ArgumentHelp("The cluster inventory.", valueName: "file")) var inventory: String?
        @Option(help: ArgumentHelp("The certificate directory.", valueName: "dir")) var certs: String?
        @Option(help: ArgumentHelp("The orchestrator state directory (not created here: the first apply creates it).", valueName: "dir")) var state: String?
        @Option(help: ArgumentHelp("The boards directory (default: the inventory's `boards:`, else the install's).", valueName: "dir")) var boards: String?

        func validate() throws {
            if let problem = ClientConfiguration.contextNameProblem(name) { throw ValidationError(problem) }
            for (flag, value) in [("--inventory", inventory), ("--certs", certs), ("--state", state), ("--boards", boards)] where value?.isEmpty == true {
                throw ValidationError("\(flag): an empty path")
            }
        }

        func run() throws {
            var (file, _) = try selection.load()
            var context = file.context(name) ?? ClientContext(name: name)
            if let inventory {
                let path = ClientConfiguration.absolute(inventory)
                if !FileManager.default.fileExists(atPath: path) { note("warning: \(path) does not exist (yet)") }
                context.inventory = path
            }
            if let certs { context.certs = ClientConfiguration.absolute(certs) }
            if let state { context.state = ClientConfiguration.absolute(state) }
            if let boards { context.boards = ClientConfiguration.absolute(boards) }
            if let index = file.contexts.firstIndex(where: { $0.name == name }) { file.contexts[index] = context } else {
                guard file.contexts.count < ClientConfiguration.contextsMax else { throw failure("\(file.file) has \(ClientConfiguration.contextsMax) contexts already") }
                file.contexts.append(context)
            }
            if file.currentContext == nil { file.currentContext = name }
            do { try file.save() } catch { throw failure("cannot write \(file.file): \(error)") }
            say("context \(name) saved in \(file.file)\(file.currentContext == name ? " (current)" : "")")
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a context (default: the current one) with every path resolved and where it comes from.",
            discussion: "Examples:\n  fireball context show\n  fireball context show lab -o json")
        @Argument(help: "The context's name (default: the current one).") var name: String?
        @OptionGroup var selection: ConfigSelection
        @OptionGroup var output: OutputOption

        struct Output: Encodable {
            let file: String; let context: String?; let inventory: String; let certs: String; let state: String; let boards: String
        }

        func run() throws {
            var selection = selection
            if let name { selection.context = name }
            let paths = try ClusterPaths(selection: selection, inventory: nil, certs: nil, state: nil, boards: nil, requireInventory: false)
            let info = Output(file: selection.path, context: paths.context, inventory: ClientConfiguration.absolute(paths.inventory.path),
                              certs: ClientConfiguration.absolute(paths.certs.path), state: ClientConfiguration.absolute(paths.state.path),
                              boards: ClientConfiguration.absolute(paths.boards))
            if output.structured { return try output.emit(info) }
            say("configuration: \(info.file)\(FileManager.default.fileExists(atPath: info.file) ? "" : " (does not exist)")")
            say("context:       \(info.context ?? "(none: defaults relative to the current folder)")")
            say("inventory:     \(info.inventory) (\(paths.inventory.source))")
            say("certs:         \(info.certs) (\(paths.certs.source))")
            say("state:         \(info.state) (\(paths.state.source))\(FileManager.default.fileExists(atPath: info.state) ? "" : ", not created yet")")
            say("boards:        \(info.boards)")
        }
    }
}
