// Encode and decode throughput of full 32-entry messages: the cost on every IPC and every cross-node hop.
import ArgumentParser
import Core

struct MessageBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "message", abstract: "Encode/decode throughput for 32-entry messages.")
    @Option(help: "Seconds per measurement.") var seconds = 1.0

    func run() throws {
        var builder = MessageBuilder()
        for i in 0..<Message.entriesMax {
            let key = MessageKey.functional(UInt32((i * 7919) % 4096))
            switch i % 4 {
            case 0: try builder.add(key, Int32(-i))
            case 1: try builder.add(key, UInt32(i))
            case 2: try builder.add(key, Float(i) * 0.5)
            default: try builder.add(key, SharedMemoryID(UInt32(i)))
            }
        }
        let message = builder.build()
        let bytes = message.encoded()
        let batch = 10_000
        var sink: UInt64 = 0

        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Message.encodedBytesMax, alignment: 8)
        defer { buffer.deallocate() }
        let encode = measure(seconds: seconds, batch: batch) {
            for _ in 0..<batch { sink &+= UInt64(message.encode(into: buffer)) &+ UInt64(buffer[7]) }
        }
        let decode = measure(seconds: seconds, batch: batch) {
            bytes.withUnsafeBytes { raw in
                for _ in 0..<batch { sink &+= UInt64((try? Message(decoding: raw))?.count ?? 0) }
            }
        }
        let lookupKey = MessageKey.functional(UInt32((17 * 7919) % 4096))
        let lookup = measure(seconds: seconds, batch: batch) {
            for _ in 0..<batch { sink &+= UInt64((message[lookupKey] as UInt32?) ?? 0) }
        }
        print("message: \(message.count) entries, \(bytes.count) bytes encoded")
        report("encode", encode.perSecond)
        report("decode+validate", decode.perSecond)
        report("lookup (binary search)", lookup.perSecond)
        print("aim: decode over 10,000,000/s -> \(decode.perSecond >= 10_000_000 ? "met" : "NOT met")  (sink \(sink % 10))")
    }

    private func report(_ name: String, _ perSecond: Double) {
        let millions = (perSecond / 1e5).rounded() / 10
        let nanoseconds = (1e10 / perSecond).rounded() / 10
        print(name + String(repeating: " ", count: max(1, 24 - name.count)) + "\(millions) M/s  \(nanoseconds) ns each")
    }
}
