// Where a command finds the cluster's files: a flag, else the configuration file's context, else
// a default (the boards beside the executable; the rest in the current folder, as before contexts).
import ArgumentParser
import Foundation
import HAL
import Orchestrator

/// `--config` and `--context`, for every command that reads the configuration file.
struct ConfigSelection: ParsableArguments {
    @Option(help: ArgumentHelp("The configuration file (default: $FIREBALL_CONFIG, else $XDG_CONFIG_HOME/fireball/config.yaml, else ~/.config/fireball/config.yaml).",
                               valueName: "file"))
    var config: String?
    @Option(help: ArgumentHelp("A context of the configuration file to use instead of its current-context.", valueName: "name"))
    var context: String?

    var path: String { ClientConfiguration.path(flag: config) }

    /// The file (empty if it does not exist) and the chosen context (nil if none is chosen).
    func load() throws -> (ClientConfiguration, ClientContext?) {
        let file: ClientConfiguration
        do { file = try ClientConfiguration.load(path: path) } catch { throw ValidationError("\(error)") }
        if let context {
            guard let found = file.context(context) else {
                throw ValidationError("--context \(context): \(file.file) has no such context (contexts: \(file.contexts.isEmpty ? "none" : file.contexts.map(\.name).joined(separator: ", ")))")
            }
            return (file, found)
        }
        return (file, file.context())
    }

    /// The boards folder: `flag`, else the context's, else FIREBALL_BOARDS, the install's or the checkout's.
    func boards(flag: String?) throws -> String {
        let (file, context) = try load()
        return BoardsLocation.find(flag: flag, context: context?.boards.map(file.resolved)).path
    }
}

/// A path setting as the command will use it, and where it came from (for messages).
struct Setting {
    var path: String
    var source: String
    /// True when no flag and no context named it (a default relative to the current folder).
    var isDefault: Bool { source == "default" }
}

/// The paths of a cluster command: each from its flag, else the context, else the default.
struct ClusterPaths {
    var inventory: Setting
    var certs: Setting
    var state: Setting
    /// The boards folder to use; `explicitBoards` when a flag or the context named it (it then wins
    /// over an inventory's own `boards:`).
    var boards: String
    var explicitBoards: Bool
    var context: String?

    init(selection: ConfigSelection, inventory: String?, certs: String?, state: String?, boards: String?, requireInventory: Bool = true) throws {
        let (file, chosen) = try selection.load()
        context = chosen?.name
        func pick(_ flag: String?, _ fromContext: String?, _ fallback: String) -> Setting {
            if let flag { return Setting(path: flag, source: "flag") }
            if let fromContext { return Setting(path: file.resolved(fromContext), source: "context \(chosen!.name) of \(file.file)") }
            return Setting(path: fallback, source: "default")
        }
        self.inventory = pick(inventory, chosen?.inventory, "Deploy/clusters/local.yaml")
        self.certs = pick(certs, chosen?.certs, "certs")
        let stateDefault = chosen.map { ClientConfiguration.defaultState(context: $0.name) }
        self.state = pick(state, chosen?.state, stateDefault ?? ".fireball/orchestrator")
        if chosen != nil, state == nil, chosen?.state == nil { self.state.source = "context \(chosen!.name) (default state)" }
        let located = BoardsLocation.find(flag: boards, context: chosen?.boards.map(file.resolved))
        self.boards = located.path
        explicitBoards = boards != nil || chosen?.boards != nil
        if requireInventory, self.inventory.isDefault, !FileManager.default.fileExists(atPath: self.inventory.path) {
            throw ValidationError("""
                no inventory: give --inventory FILE, or name one in a context of \(file.file):
                  fireball context set NAME --inventory FILE --certs DIR && fireball context use NAME
                """)
        }
    }

    func loadInventory() throws -> ClusterInventory {
        do { return try ClusterInventory.load(path: inventory.path, boardsDirectory: boards, boardsOverride: explicitBoards ? boards : nil) }
        catch { throw failure("\(error)") }
    }

    /// The state folder for a command that only reads or updates it: it must exist (only `apply`
    /// creates one), so that a command run from another folder does not start a second, empty state.
    func existingState() throws -> String {
        var directory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: state.path, isDirectory: &directory), directory.boolValue else {
            throw failure("no orchestrator state at \(ClientConfiguration.absolute(state.path)) (\(state.source)): nothing was applied with it; "
                          + "give --state, or use the context you applied with (`fireball context list`)")
        }
        return state.path
    }
}
