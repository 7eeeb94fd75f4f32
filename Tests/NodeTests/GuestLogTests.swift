// A node's per-guest log buffer (bounds, cursors, --since, answers that fit a frame), the `--since`
// durations, and a control socket that is in use.
import Foundation
import HAL
import Orchestrator
import Testing
import Transport
@testable import Node

@Suite struct GuestLogTests {
    static let second: UInt64 = 1_000_000_000

    @Test func keepsTheNewestLinesWithinItsLineAndByteBounds() {
        var log = GuestLog(id: 7, linesMax: 5, bytesMax: 4096)
        for index in 1...12 { log.append("line \(index)", at: UInt64(index) * Self.second) }
        #expect(log.count == 5 && log.dropped == 7 && log.nextSequence == 13)
        let all = log.select(lines: 0, sinceNanoseconds: nil, after: nil, now: 12 * Self.second, answerBytesMax: 60_000)
        #expect(all.lines == (8...12).map { "line \($0)" })
        #expect(all.cursor == LogCursor(log: 7, sequence: 12) && !all.more && all.skipped == 0)

        // Bytes bound: each line costs its text plus 48; long lines push out more old ones.
        var bytes = GuestLog(id: 1, linesMax: 1000, bytesMax: 4096)
        let long = String(repeating: "x", count: 1000)
        for _ in 1...10 { bytes.append(long, at: 0) }
        #expect(bytes.count == 3 && bytes.bytes == 3 * (1000 + GuestLog.entryBytes) && bytes.bytes <= 4096)
        // A line longer than the whole buffer is cut to fit, never kept whole.
        bytes.append(String(repeating: "é", count: 5000), at: 0)
        #expect(bytes.count == 1 && bytes.bytes <= 4096)
        #expect(bytes.select(lines: 1, sinceNanoseconds: nil, after: nil, now: 0, answerBytesMax: 60_000).lines[0].hasSuffix(" …"))
    }

    @Test func aCursorGetsWhatFollowedAndCountsWhatWasDroppedMeanwhile() {
        var log = GuestLog(id: 3, linesMax: 4, bytesMax: 4096)
        for index in 1...3 { log.append("a\(index)", at: 0) }
        let first = log.select(lines: 2, sinceNanoseconds: nil, after: nil, now: 0, answerBytesMax: 60_000)
        #expect(first.lines == ["a2", "a3"] && first.cursor.sequence == 3)
        // Nothing new: no lines, the cursor stays.
        let idle = log.select(lines: 0, sinceNanoseconds: nil, after: first.cursor, now: 0, answerBytesMax: 60_000)
        #expect(idle.lines.isEmpty && idle.cursor == first.cursor && !idle.more)
        // Six more while the reader was away: the buffer holds four, two were dropped unread.
        for index in 4...9 { log.append("a\(index)", at: 0) }
        let next = log.select(lines: 0, sinceNanoseconds: nil, after: first.cursor, now: 0, answerBytesMax: 60_000)
        #expect(next.lines == ["a6", "a7", "a8", "a9"] && next.skipped == 2 && next.cursor.sequence == 9)
        // A cursor of another log (the node or the replica restarted): all of this one, said so.
        let other = log.select(lines: 0, sinceNanoseconds: nil, after: LogCursor(log: 99, sequence: 2), now: 0, answerBytesMax: 60_000)
        #expect(other.restarted && other.lines.count == 4)
    }

    @Test func sinceKeepsOnlyRecentLinesAndAnswersArePagedToFitAFrame() {
        var log = GuestLog(id: 1, linesMax: 100, bytesMax: 128 * 1024)
        for minute in 0..<10 { log.append("minute \(minute)", at: UInt64(minute) * 60 * Self.second) }
        let recent = log.select(lines: 0, sinceNanoseconds: 5 * 60 * Self.second, after: nil, now: 10 * 60 * Self.second, answerBytesMax: 60_000)
        #expect(recent.lines == (5..<10).map { "minute \($0)" })
        #expect(log.select(lines: 2, sinceNanoseconds: 5 * 60 * Self.second, after: nil, now: 10 * 60 * Self.second, answerBytesMax: 60_000).lines
                == ["minute 8", "minute 9"])
        let none = log.select(lines: 0, sinceNanoseconds: Self.second, after: nil, now: 100 * 60 * Self.second, answerBytesMax: 60_000)
        #expect(none.lines.isEmpty && none.cursor.sequence == 10, "nothing recent: the cursor is at the end, to follow from there")

        // Pages: each answer within its budget (a line counted twice for JSON escaping), in order, none lost.
        var big = GuestLog(id: 2, linesMax: 1000, bytesMax: 1 << 20)
        for index in 0..<200 { big.append(String(repeating: "\(index % 10)", count: 500) + " #\(index)", at: 0) }
        var cursor: LogCursor?
        var seen: [String] = []
        for _ in 0..<20 {
            let page = big.select(lines: 0, sinceNanoseconds: nil, after: cursor, now: 0, answerBytesMax: 20_000)
            #expect(page.lines.reduce(0) { $0 + $1.utf8.count * 2 + 4 } <= 20_000)
            seen += page.lines
            cursor = page.cursor
            if !page.more { break }
        }
        #expect(seen.count == 200 && seen.last?.hasSuffix("#199") == true)
        // And the encoded answer of a full page fits a frame.
        var response = ControlResponse(id: 1, lines: big.select(lines: 0, sinceNanoseconds: nil, after: nil, now: 0,
                                                                 answerBytesMax: Frame.payloadBytesMax - 1024).lines)
        response.cursor = LogCursor(log: .max, sequence: .max)
        #expect(response.encoded().count <= Frame.payloadBytesMax)
    }

    @Test func sinceDurations() {
        #expect(LogQuery.milliseconds("5m") == 300_000 && LogQuery.milliseconds("5 min") == 300_000)
        #expect(LogQuery.milliseconds("90s") == 90_000 && LogQuery.milliseconds("2h") == 7_200_000 && LogQuery.milliseconds("1d") == 86_400_000)
        #expect(LogQuery.milliseconds("500ms") == 500)
        for bad in ["", "m", "5", "5x", "-5m", "400d", "99999999999s", "5m3s", "٥m"] { #expect(LogQuery.milliseconds(bad) == nil, "\(bad)") }
    }
}

@Suite struct ControlSocketClaimTests {
    static func directory() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("fb-sock-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// A Unix socket bound at `path`, listening if `listening` (else closed at once: what a crash leaves).
    static func socketFile(_ path: String, listening: Bool) throws -> Int32 {
        var address = try LocalControl.address(path)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        #expect(bound == 0)
        if listening { #expect(listen(fd, 4) == 0) } else { close(fd) }
        return fd
    }

    @Test func aLiveSocketIsInUseAStaleOneIsReplacedAndAFileIsLeftAlone() throws {
        let folder = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        // Another process serves it (no lock of ours): in use, and it is still there afterwards.
        let live = folder + "/x.sock"
        let server = try Self.socketFile(live, listening: true)
        defer { close(server) }
        #expect(throws: DeviceControlError.self) { _ = try LocalControl.claim(live) }
        do { _ = try LocalControl.claim(live) } catch { #expect("\(error)".contains("is in use: a running process")) }
        #expect(LocalControl.answers(live))

        // A socket nobody answers on: removed, and the name is ours (held by the lock).
        let stale = folder + "/y.sock"
        _ = try Self.socketFile(stale, listening: false)
        #expect(!LocalControl.answers(stale))
        let lock = try LocalControl.claim(stale)
        #expect(!FileManager.default.fileExists(atPath: stale))
        // While we hold it, a second process starting with the same name is refused.
        do { _ = try LocalControl.claim(stale); Issue.record("claimed twice") } catch { #expect("\(error)".contains("is in use")) }
        close(lock)

        // Something else at the path is not ours to remove.
        let file = folder + "/z.sock"
        try "data".write(toFile: file, atomically: true, encoding: .utf8)
        do { _ = try LocalControl.claim(file); Issue.record("claimed a file") } catch { #expect("\(error)".contains("not a socket")) }
        #expect(FileManager.default.fileExists(atPath: file))
    }
}
