import Testing
@testable import Core

@Suite struct QuantityTests {
    @Test func sizesReadTheirUnits() throws {
        #expect(try Quantity.bytes("4096", in: 0...Int.max) == 4096)
        #expect(try Quantity.bytes("64 KiB", in: 0...Int.max) == 64 * 1024)
        #expect(try Quantity.bytes("1MiB", in: 0...Int.max) == 1 << 20)
        #expect(try Quantity.bytes("2 GiB", in: 0...Int.max) == 2 << 30)
        #expect(try Quantity.bytes("512 B", in: 0...Int.max) == 512)
    }

    @Test(arguments: ["8589934592 GiB", "99999999999999999999999", "18446744073709551615 KiB", "-5 KiB", "4 KB", "KiB", "", "1.5 MiB", "4 KiB KiB"])
    func hostileSizesAreRefusedNotTrapped(text: String) {
        #expect(throws: QuantityError.self) { try Quantity.bytes(text, in: 0...(1 << 32)) }
    }

    @Test func aSizeOutsideItsRangeNamesTheRange() {
        #expect(throws: QuantityError("'2 GiB' is outside 1 B…1 GiB")) { try Quantity.bytes("2 GiB", in: 1...(1 << 30)) }
    }

    @Test func durationsReadTheirUnits() throws {
        let any: ClosedRange<UInt64> = 0...UInt64.max
        #expect(try Quantity.nanoseconds("500 ms", in: any) == 500_000_000)
        #expect(try Quantity.nanoseconds("60s", in: any) == 60_000_000_000)
        #expect(try Quantity.nanoseconds("5 min", in: any) == 300_000_000_000)
        #expect(try Quantity.nanoseconds("1 h", in: any) == 3_600_000_000_000)
        #expect(try Quantity.nanoseconds("2 d", in: any) == 172_800_000_000_000)
    }

    @Test(arguments: ["4294967295 h", "18446744073709551615 ms", "213503 d", "soon", "60", "-1 s", "1e3 s"])
    func hostileDurationsAreRefusedNotTrapped(text: String) {
        #expect(throws: QuantityError.self) { try Quantity.nanoseconds(text, in: 1_000_000...RestartPolicy.windowNanosecondsMax) }
    }

    @Test func millisecondFieldsAreScaledWithoutOverflow() throws {
        #expect(try Quantity.nanoseconds(2000, unitNanoseconds: 1_000_000, in: 1...UInt64.max) == 2_000_000_000)
        #expect(throws: QuantityError.self) { try Quantity.nanoseconds(UInt64.max, unitNanoseconds: 1_000_000, in: 1...UInt64.max) }
    }

    @Test func restartPolicyTextIsRangeChecked() throws {
        #expect(try RestartPolicy.parse("up-to 3 within 60000 ms") == .restartUpTo(count: 3, withinNanoseconds: 60_000_000_000))
        #expect(try RestartPolicy.parse(RestartPolicy.restartUpTo(count: 1000, withinNanoseconds: RestartPolicy.windowNanosecondsMax).description)
                == .restartUpTo(count: 1000, withinNanoseconds: RestartPolicy.windowNanosecondsMax))
        // The control-plane crash of issue 13: a window of UInt64.max milliseconds.
        #expect(RestartPolicy(text: "up-to 3 within 18446744073709551615 ms") == nil)
        #expect(throws: QuantityError.self) { try RestartPolicy.parse("up-to 0 within 1000 ms") }
        #expect(throws: QuantityError.self) { try RestartPolicy.parse("up-to 1001 within 1000 ms") }
        #expect(throws: QuantityError.self) { try RestartPolicy.parse("up-to 3 within 0 ms") }
        #expect(throws: QuantityError.self) { try RestartPolicy.parse("up-to  3 within 1000 ms") }
    }

    @Test func formattedLimitsUseTheLargestExactUnit() {
        #expect(Quantity.formatBytes(1 << 30) == "1 GiB" && Quantity.formatBytes(4097) == "4097 B" && Quantity.formatBytes(0) == "0 B")
        #expect(Quantity.formatNanoseconds(RestartPolicy.windowNanosecondsMax) == "7 d" && Quantity.formatNanoseconds(1_500_000) == "1500 us")
    }
}
