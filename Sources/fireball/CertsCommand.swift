// `fireball certs init|issue`: the cluster CA and node certificates (see Docs/transport.md).
import ArgumentParser
import Foundation
import Transport

struct CertsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "certs",
        abstract: "Create the cluster CA and issue node certificates (EC P-256, TLS 1.3 links).",
        discussion: """
            Examples:
              fireball certs init --certs ~/fireball/certs
              fireball certs issue c3 --role node --certs ~/fireball/certs
              fireball certs issue orchestrator --role orchestrator --days 30
            """,
        subcommands: [Initialize.self, Issue.self, Renew.self]
    )

    /// `--certs DIR` (and the deprecated `--dir DIR`, hidden, kept for one release).
    struct Folder: ParsableArguments {
        @Option(help: ArgumentHelp("The certificate directory (default: the context's, else certs).", valueName: "dir")) var certs: String?
        @Option(help: .hidden) var dir: String?
        @OptionGroup var selection: ConfigSelection

        func validate() throws {
            if certs != nil && dir != nil { throw ValidationError("--dir is the deprecated spelling of --certs: give only --certs") }
        }

        var path: String {
            get throws {
                if let dir { warnDeprecated("--dir", use: "--certs \(dir)"); return dir }
                if let certs { return certs }
                let (file, context) = try selection.load()
                return context?.certs.map(file.resolved) ?? "certs"
            }
        }
    }

    struct Initialize: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "init", abstract: "Create ca.pem and ca.key (mode 0600) in the certificate directory.",
            discussion: """
                Examples:
                  fireball certs init --certs ~/fireball/certs
                  fireball certs init --days 365 --force
                """)
        @OptionGroup var folder: Folder
        @Option(help: "Days the CA is valid.") var days = 3650
        @Flag(help: "Replace an existing CA (every certificate it issued stops being trusted).") var force = false

        func validate() throws { try checkOption(days, in: OptionLimits.certificateDays, "--days") }

        func run() throws {
            let directory = try folder.path
            do {
                let ca = try CertificateAuthority.initialize(directory: directory, notAfter: Date(timeIntervalSinceNow: Double(days) * 86400), force: force)
                say("created \(ca.certificatePath) and \(ca.keyPath) (0600), valid \(days) days")
            } catch let error where error.code == .exists {
                throw certsFailure("\(error.detail) (pass --force to replace the CA)")
            } catch {
                throw certsFailure(error.detail)
            }
        }
    }

    struct Issue: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Issue NAME.pem and NAME.key (mode 0600) signed by the CA in the certificate directory.",
            discussion: """
                Examples:
                  fireball certs issue c3 --role node
                  fireball certs issue orchestrator --role orchestrator --certs ~/fireball/certs --days 30
                """)
        @Argument(help: "The node name: letters, digits and '-', at most 63.") var name: String
        @Option(help: "node or orchestrator.") var role: String
        @OptionGroup var folder: Folder
        @Option(help: "Days the certificate is valid.") var days = 365
        @Flag(help: "Overwrite an existing NAME.pem / NAME.key.") var force = false

        func validate() throws {
            if let problem = NodeName.problem(name) { throw ValidationError(problem) }
            guard NodeRole(name: role) != nil else { throw ValidationError("--role must be node or orchestrator, not '\(role)'") }
            try checkOption(days, in: OptionLimits.certificateDays, "--days")
        }

        func run() throws {
            let directory = try folder.path
            do {
                let ca = try CertificateAuthority(directory: directory)
                let issued = try ca.issue(name: name, role: NodeRole(name: role)!, notAfter: Date(timeIntervalSinceNow: Double(days) * 86400), force: force)
                say("issued \(issued.certificatePath) and \(issued.keyPath) (0600): \(name), role \(role), valid \(days) days")
            } catch let error where error.code == .exists {
                throw certsFailure("\(error.detail) (pass --force to overwrite)")
            } catch {
                throw certsFailure(error.detail)
            }
        }
    }
}

extension CertsCommand {
    struct Renew: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Issue a fresh NAME.pem and NAME.key (0600) for a name that has a certificate, with the same role.",
            discussion: """
                Replaces the files in DIR. A node running with them keeps its old certificate until it is told: \
                send it SIGHUP (`kill -HUP PID`) and connections from then on use the new one; its guests and \
                the links up stay. `fireball status` shows each node's expiry.

                Examples:
                  fireball certs renew node-a
                  fireball certs renew orchestrator --days 90 --dir certs
                """)
        @Argument(help: "The certificate's name.") var name: String
        @Option(help: "The certificate directory holding ca.pem, ca.key and NAME.pem.") var dir = "certs"
        @Option(help: "Days the new certificate is valid.") var days = 365

        func validate() throws {
            if let problem = NodeName.problem(name) { throw ValidationError(problem) }
            try checkOption(days, in: OptionLimits.certificateDays, "--days")
        }

        func run() throws {
            do {
                let (issued, role) = try CertificateAuthority(directory: dir).renew(name: name, notAfter: Date(timeIntervalSinceNow: Double(days) * 86400))
                print("renewed \(issued.certificatePath) and \(issued.keyPath) (0600): \(name), role \(role.name), valid \(days) days; send the node SIGHUP to use it")
            } catch {
                throw certsFailure(error.detail)
            }
        }
    }
}

/// Prints `message` to stderr and returns exit code 1: a failure of the operation, not of the command line.
private func certsFailure(_ message: String) -> ExitCode {
    note("error: \(message)")
    return ExitCode(1)
}
