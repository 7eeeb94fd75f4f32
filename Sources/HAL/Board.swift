// Boards are data (Deploy/boards/*.yaml, issue 5); this names the CPU families they come in.
import Core

/// The CPU families of the upstream targets (DESIGN.md §9).
public enum CPUFamily: String, Sendable, CaseIterable {
    case cortexM33 = "cortex-m33"
    case cortexM4F = "cortex-m4f"
    case riscV32 = "riscv32"
    case x86_64 = "x86_64"
}
