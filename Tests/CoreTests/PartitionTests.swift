import Testing
@testable import Core

@Suite struct PartitionTests {
    @Test func allocatesUntilFullThenRefusesAndFreesBackToEmpty() throws {
        let partition = Partition(kind: .guest, bytes: 64 * 1024)
        let empty = partition.usedBytes
        var blocks: [UnsafeMutableRawPointer] = []
        while let block = partition.allocate(1000) { blocks.append(block) }
        #expect(blocks.count >= 60, "64 KiB holds at least 60 blocks of 1000 bytes, got \(blocks.count)")
        #expect(partition.allocate(1000) == nil)
        #expect(partition.checkConsistency() == nil)
        for block in blocks { partition.free(block) }
        #expect(partition.usedBytes == empty, "every byte comes back")
        #expect(partition.checkConsistency() == nil)
        #expect(partition.largestFreeBlock == partition.capacity - empty, "all free blocks merged into one")
    }

    @Test(arguments: [1, 2, 3])
    func randomWorkloadKeepsInvariantsAndBoundsFragmentation(seed: UInt64) throws {
        var random = SeededRandom(seed: seed)
        let partition = Partition(kind: .guest, bytes: 256 * 1024)
        var live: [(UnsafeMutableRawPointer, Int, UInt8)] = []
        for step in 0..<5_000 {
            if live.isEmpty || Int.random(in: 0..<10, using: &random) < 6 {
                let size = Int.random(in: 1...4_000, using: &random)
                if let block = partition.allocate(size) {
                    let tag = UInt8(truncatingIfNeeded: step)
                    block.initializeMemory(as: UInt8.self, repeating: tag, count: size)
                    live.append((block, size, tag))
                }
            } else {
                let (block, size, tag) = live.remove(at: Int.random(in: 0..<live.count, using: &random))
                // Nobody else wrote into this block while it was live.
                #expect(UnsafeRawBufferPointer(start: block, count: size).allSatisfy { $0 == tag })
                partition.free(block)
            }
            if step % 500 == 0 { #expect(partition.checkConsistency() == nil) }
        }
        for (block, _, _) in live { partition.free(block) }
        #expect(partition.checkConsistency() == nil)
        #expect(partition.allocationCount == 0)
        #expect(partition.largestFreeBlock == partition.freeBytes)
    }

    @Test func reallocateGrowsInPlaceWhenTheNeighbourIsFreeAndKeepsContents() throws {
        let partition = Partition(kind: .guest, bytes: 64 * 1024)
        let block = try #require(partition.allocate(100))
        block.storeBytes(of: 0xDEAD_BEEF, as: UInt32.self)
        let grown = try #require(partition.reallocate(block, to: 10_000))
        #expect(grown == block, "the free space after the block is absorbed in place")
        #expect(grown.load(as: UInt32.self) == 0xDEAD_BEEF)
        let blocker = try #require(partition.allocate(16))
        let moved = try #require(partition.reallocate(grown, to: 20_000))
        #expect(moved != grown)
        #expect(moved.load(as: UInt32.self) == 0xDEAD_BEEF)
        #expect(partition.reallocate(moved, to: 1 << 20) == nil, "too big: refused, old block intact")
        #expect(moved.load(as: UInt32.self) == 0xDEAD_BEEF)
        partition.free(moved)
        partition.free(blocker)
        #expect(partition.checkConsistency() == nil)
        #expect(partition.allocationCount == 0)
    }

    @Test func sizeClassesCoverEveryRequest() {
        for size in [8, 9, 127, 128, 129, 1000, 4096, 65536, 1 << 20, (1 << 30) - 1] {
            let (f, s) = Partition.mapping(size)
            #expect(f >= 0 && f < Partition.firstLevelCount && s >= 0 && s < Partition.secondLevelCount, "size \(size)")
        }
    }
}
