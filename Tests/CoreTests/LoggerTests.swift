import Testing
@testable import Core

@Suite struct LoggerTests {
    func logger() throws -> (Logger, ManualClock, Box) {
        let clock = ManualClock(start: 1_500_000_000)
        let box = Box()
        let logger = try Logger(texts: ["temperature {} C at sensor {}"], clock: clock) { box.lines.append($0) }
        return (logger, clock, box)
    }
    final class Box { var lines: [String] = [] }

    @Test func dictionaryMessagesAreFilledInKeyOrderAndStamped() throws {
        let (logger, _, box) = try logger()
        var builder = MessageBuilder()
        try builder.add(logger.dictionary.key("temperature {} C at sensor {}")!, UInt32(0))
        try builder.add(.functional(2), UInt32(7))          // key order decides: f:1 first, then f:2
        try builder.add(.functional(1), Float(21.5))
        try logger.log(.info, builder.build(), from: "sensor")
        #expect(box.lines == ["1.500000 [sensor] INFO temperature 21.5 C at sensor 7"])
    }

    @Test func levelsAreSwitchable() throws {
        let (logger, _, box) = try logger()
        logger.log(.debug, text: "hidden", from: "g")
        logger.enabled.insert(.debug)
        logger.log(.debug, text: "shown", from: "g")
        #expect(box.lines.count == 1 && box.lines[0].hasSuffix("DEBUG shown"))
        #expect(logger.dropped == 1)
    }

    @Test func wrongTextOrValueCountIsRefusedAndNothingPrinted() throws {
        let (logger, _, box) = try logger()
        var builder = MessageBuilder()
        try builder.add(.functional(1), UInt32(3))
        #expect(throws: MessageError.self) { try logger.log(.info, builder.build(), from: "g") }
        try builder.add(logger.dictionary.key("temperature {} C at sensor {}")!, UInt32(0))
        #expect(throws: MessageError.self) { try logger.log(.info, builder.build(), from: "g") }
        #expect(box.lines.isEmpty)
    }
}
