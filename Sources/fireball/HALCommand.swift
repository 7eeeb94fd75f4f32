// `fireball hal NODE COMMAND…`: drive and observe a running node's simulated devices.
import ArgumentParser
import Foundation
import HAL
import Node
import Orchestrator
import Transport

struct HALCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hal",
        abstract: "Drive and observe a running node's devices (GPIO pins, UART, ADC, I2C sensors, SPI flash).",
        discussion: "Commands:\n" + DeviceControl.usage + "\n`uart tail [GUEST] -f` keeps streaming new lines until Ctrl-C."
            + "\n\nA node on this host is reached through its local socket. Any other node of the inventory (--inventory) is "
            + "reached through the control plane with the orchestrator certificate (--certs, --as), like `fireball status`; "
            + "there `-f` and `adc load` (which reads a file on the node's host) are refused.\n\nExamples:\n"
            + "  fireball hal local gpio set 4 1\n  fireball hal --inventory Deploy/clusters/local.yaml node-b uart tail blinky")

    @Argument(help: "The node's name (fireball run --name NAME; default local).") var node: String
    @Argument(parsing: .captureForPassthrough, help: "The command and its arguments.") var command: [String] = []
    @Option(help: "The control socket, if not the node's default.") var socket: String?
    @OptionGroup var cluster: ClusterOptions

    func run() throws {
        guard !command.isEmpty else { throw ValidationError("which command? Commands:\n" + DeviceControl.usage) }
        var failed = false
        let path = socket ?? LocalControl.defaultPath(node: node)
        // No local socket for that node: through the control plane, if the inventory has it.
        if socket == nil, !FileManager.default.fileExists(atPath: path),
           let inventory = try? cluster.paths().loadInventory(),
           inventory.nodes.contains(where: { $0.name == node }) {
            let (_, client, _, _) = try cluster.connect()
            defer { client.close() }
            do {
                for line in try client.request(node, ControlRequest.Operation.hal(words: command)).lines ?? [] { say(line) }
            } catch {
                throw failure("\(error)")
            }
            return
        }
        do {
            try LocalControl.send(command, to: path) { line in
                if line.hasPrefix("error: ") { failed = true; FileHandle.standardError.write(Data((line + "\n").utf8)) } else { say(line) }
                fflush(nil)
            }
        } catch {
            throw ValidationError("\(error)")
        }
        if failed { throw ExitCode(1) }
    }
}
