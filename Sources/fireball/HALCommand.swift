// `fireball hal NODE COMMAND…`: drive and observe a running node's simulated devices.
import ArgumentParser
import Foundation
import HAL
import Node

struct HALCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hal",
        abstract: "Drive and observe a running node's devices (GPIO pins, UART, ADC, I2C sensors, SPI flash).",
        discussion: "Commands:\n" + DeviceControl.usage + "\n`uart tail [GUEST] -f` keeps streaming new lines until Ctrl-C."
            + "\n\nExamples:\n  fireball hal m33 gpio set 4 1\n  fireball hal m33 i2c temp 0x48 30\n  fireball hal m33 uart tail -f")

    @Argument(help: "The node's name (fireball run --name NAME; default local).") var node: String
    @Argument(parsing: .captureForPassthrough, help: "The command and its arguments.") var command: [String] = []
    @Option(help: "The control socket, if not the node's default.") var socket: String?

    func run() throws {
        guard !command.isEmpty else { throw ValidationError("which command? Commands:\n" + DeviceControl.usage) }
        var failed = false
        do {
            try LocalControl.send(command, to: socket ?? LocalControl.defaultPath(node: node)) { line in
                if line.hasPrefix("error: ") { failed = true; FileHandle.standardError.write(Data((line + "\n").utf8)) } else { say(line) }
                fflush(nil)
            }
        } catch {
            throw ValidationError("\(error)")
        }
        if failed { throw ExitCode(1) }
    }
}
