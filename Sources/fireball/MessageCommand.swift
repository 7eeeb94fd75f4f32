// `fireball message encode|decode`: build and inspect wire messages by hand.
import ArgumentParser
import Core
import Foundation

struct MessageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "message",
        abstract: "Encode or decode a typed key-value message (see Docs/wire-format.md).",
        discussion: """
            Examples:
              fireball message encode 7=i32:-5 @temp=f32:21.5 --dictionary temp
              fireball message decode 01020000...
            """,
        subcommands: [Encode.self, Decode.self]
    )

    struct DictionaryOption: ParsableArguments {
        @Option(name: .customLong("dictionary"), help: "Comma-separated dictionary strings for @name keys.")
        var strings: String?

        func load() throws -> MessageDictionary? {
            guard let strings else { return nil }
            do { return try MessageDictionary(strings: strings.split(separator: ",").map(String.init)) }
            catch { throw ValidationError("--dictionary: \(error)") }
        }
    }

    struct Encode: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Encode entries KEY=TYPE:VALUE and print the bytes as hex, one line per part.",
            discussion: "Examples:\n  fireball message encode 7=i32:-5 0x20=u32:9\n  fireball message encode @temperature=f32:21.5 --dictionary temperature --compact")
        @OptionGroup var dictionary: DictionaryOption
        @Argument(help: "Entries: 7=i32:-5, 0x20=u32:9, @temperature=f32:21.5, 3=shm:12") var entries: [String]
        @Flag(help: "Print only the hex string.") var compact = false

        func run() throws {
            let dictionary = try dictionary.load()
            var builder = MessageBuilder()
            do {
                for text in entries { try builder.add(MessageEntry(text: text, dictionary: dictionary)) }
            } catch { throw ValidationError("\(error)") }
            let message = builder.build()
            let bytes = message.encoded()
            if compact { say(hex(bytes[...])); return }
            let n = message.count
            say("header  \(hex(bytes[0..<4]))  version \(bytes[0]), \(n) entries")
            for i in 0..<n {
                let start = Message.headerBytes + i * Message.entryBytes
                say(String(format: "entry%2d ", i) + hex(bytes[start..<start + 8]) + "  " + message[i].description)
            }
            let index = Message.headerBytes + n * Message.entryBytes
            say("index   \(hex(bytes[index...]))  entries in key order")
            say("total   \(bytes.count) bytes: \(hex(bytes[...]))")
        }
    }

    struct Decode: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Decode and validate a message given as hex; exit 1 with the reason if it is refused.",
            discussion: "Examples:\n  fireball message decode \"$(fireball message encode 7=i32:-5 --compact)\"\n  fireball message decode 0102 0000 --dictionary temperature")
        @OptionGroup var dictionary: DictionaryOption
        @Argument(help: "The message bytes as hex (spaces allowed).") var hex: [String]

        func run() throws {
            let text = hex.joined().filter { !$0.isWhitespace }
            guard text.count % 2 == 0, let bytes = bytesFromHex(text) else {
                throw ValidationError("'\(text)' is not an even number of hex digits")
            }
            let dictionary = try dictionary.load()
            do {
                let message = try Message(decoding: bytes, dictionary: dictionary)
                say(dictionary.map { message.description(using: $0) } ?? message.description)
            } catch {
                FileHandle.standardError.write(Data("refused: \(error)\n".utf8))
                throw ExitCode(1)
            }
        }
    }
}

private func hex(_ bytes: ArraySlice<UInt8>) -> String {
    bytes.map { String(format: "%02x", $0) }.joined()
}

private func bytesFromHex(_ text: String) -> [UInt8]? {
    var bytes: [UInt8] = []
    var index = text.startIndex
    while index < text.endIndex {
        let next = text.index(index, offsetBy: 2)
        guard let byte = UInt8(text[index..<next], radix: 16) else { return nil }
        bytes.append(byte)
        index = next
    }
    return bytes
}
