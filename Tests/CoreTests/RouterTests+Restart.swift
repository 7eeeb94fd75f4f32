// A node that restarts within the grace period is a new run of it (a new router incarnation): its
// peers drop what they kept of the old run at once, so the new run's sends, whose sequence numbers
// start again at 1, are neither answered from the old run's records (lost) nor doubled.
import Foundation
import Testing
@testable import Core

extension RouterTests {
    static let sdkDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../Deploy/sdk").standardized.path

    /// Sends 1, 2, 3, … every 20 ms to fireball://sink/in, reconnecting after a failure; each
    /// message carries run × 1000 + sequence (the run: its start in ms), logged as "sent N" once OK.
    static let sender = """
        #include "fireball.h"
        FB_EXPORT("run") void run(void) {
            int64_t run = fb_clock_ns() / 1000000;
            int32_t channel = -1;
            uint32_t sequence = 0;
            for (;;) {
                if (channel < 0) {
                    channel = fb_open("fireball://sink/in");
                    if (channel < 0) { fb_sleep(10000000); continue; }
                }
                sequence++;
                uint8_t out[FB_MSG_BYTES(1)];
                fb_msg m;
                fb_msg_init(&m, out, sizeof out);
                fb_msg_put_u32(&m, 1, (uint32_t)(run * 1000 + sequence));
                int32_t status = fb_send(channel, &m);
                if (status == FB_OK) fb_log_report(FB_INFO, "", "sent", run * 1000 + sequence, FB_OK);
                else { fb_log_report(FB_INFO, "", "failed", run * 1000 + sequence, status); fb_close(channel); channel = -1; }
                fb_sleep(20000000);
            }
        }
        """
    /// Serves fireball://sink/in and logs "got N" for every message.
    static let receiver = """
        #include "fireball.h"
        FB_EXPORT("run") void run(void) {
            int32_t channel = fb_serve("fireball://sink/in");
            for (;;) {
                uint8_t in[FB_MSG_BYTES(32)];
                int32_t n = fb_recv(channel, in, sizeof in);
                uint32_t value = 0;
                if (n >= 0 && fb_msg_get_u32(in, (uint32_t)n, 1, &value) == FB_OK) fb_log_report(FB_INFO, "", "got", value, FB_OK);
            }
        }
        """

    static func numbers(_ word: String, in lines: [String]) -> [Int] {
        lines.compactMap { line in
            guard let range = line.range(of: " \(word) ") else { return nil }
            return Int(line[range.upperBound...].prefix { $0.isNumber })
        }
    }

    /// The sender on a, the receiver on b, exchanging for `nanoseconds`.
    static func exchange(runningFor nanoseconds: UInt64) throws -> (RouterNetwork, sender: LoadedModule, receiver: LoadedModule) {
        let flags = ["-I", sdkDirectory, "-std=c11"]
        let sender = try LoadedModule.load(try WasmTestSupport.clang(Self.sender, extraFlags: flags))
        let receiver = try LoadedModule.load(try WasmTestSupport.clang(Self.receiver, extraFlags: flags))
        let network = RouterNetwork(["a", "b"])
        _ = try network.nodes["b"]!.kernel.spawnGuest(receiver, name: "receiver", capability: ProcessCapability())
        _ = try network.nodes["a"]!.kernel.spawnGuest(sender, name: "sender", capability: ProcessCapability())
        try network.run(for: nanoseconds)
        return (network, sender, receiver)
    }

    @Test(arguments: [0, 7, 13, 20])
    func aQuickRestartOfTheSendersNodeLosesAndDoublesNothing(afterMilliseconds offset: UInt64) throws {
        let (network, sender, receiver) = try Self.exchange(runningFor: 1_000_000_000 + offset * 1_000_000)
        // Well within the 2 s grace: the sender's node is back before b gives the old run up.
        let first = network.restart("a")
        _ = try network.nodes["a"]!.kernel.spawnGuest(sender, name: "sender", capability: ProcessCapability())
        try network.run(for: 2_000_000_000)

        let sentFirst = Self.numbers("sent", in: first.console), sentSecond = Self.numbers("sent", in: network.nodes["a"]!.console)
        let got = Self.numbers("got", in: network.nodes["b"]!.console)
        #expect(sentFirst.count > 30 && sentSecond.count > 60, "\(sentFirst.count) and \(sentSecond.count) sends")
        #expect(Set(got).count == got.count, "nothing taken twice: \(got)")
        for sent in [sentFirst, sentSecond] {
            // Every send that returned OK was taken, once, in order.
            let taken = got.filter { Set(sent).contains($0) }
            #expect(taken == sent, "sent \(sent), taken \(taken)")
        }
        // The only messages taken that no run saw OK are the old run's last (its answer died with it).
        let unacknowledged = got.filter { !sentFirst.contains($0) && !sentSecond.contains($0) }
        #expect(unacknowledged.count <= 1 && unacknowledged.allSatisfy { $0 / 1000 == sentFirst[0] / 1000 }, "\(unacknowledged)")
        #expect(network.nodes["b"]!.lines(containing: "router: a restarted").count == 1)
    }

    @Test(arguments: [0, 7, 13, 20])
    func aQuickRestartOfTheReceiversNodeLosesAndDoublesNothing(afterMilliseconds offset: UInt64) throws {
        let (network, sender, receiver) = try Self.exchange(runningFor: 1_000_000_000 + offset * 1_000_000)
        let first = network.restart("b")
        _ = try network.nodes["b"]!.kernel.spawnGuest(receiver, name: "receiver", capability: ProcessCapability())
        try network.run(for: 2_000_000_000)

        let a = network.nodes["a"]!
        let sent = Self.numbers("sent", in: a.console), failed = Self.numbers("failed", in: a.console)
        let got = Self.numbers("got", in: first.console) + Self.numbers("got", in: network.nodes["b"]!.console)
        #expect(sent.count > 80, "\(sent.count) sends")
        #expect(Set(got).count == got.count, "nothing taken twice: \(got)")
        #expect(got.filter { Set(sent).contains($0) } == sent, "every OK send taken once, in order")
        // A send that failed across the restart was taken at most once (by the old run, maybe).
        #expect(got.filter { Set(failed).contains($0) }.count <= failed.count)
        #expect(a.lines(containing: "router: b restarted").count == 1)
    }
}
