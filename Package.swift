// swift-tools-version:6.1
// Fireball: a WebAssembly hypervisor for small boards, run as a cluster.
// Dependencies point one way: Simulator -> Node, Orchestrator; Node, Orchestrator -> Transport -> Core; Node, Orchestrator -> HAL -> Core.
import PackageDescription

// `FIREBALL_OP_PROFILE=1 swift build -c release --scratch-path .build/op-profile` makes an interpreter
// that counts ops and op pairs for `fireball-bench ops` (Docs/interpreter.md); never a normal build.
let opProfile: [SwiftSetting] = Context.environment["FIREBALL_OP_PROFILE"] == "1" ? [.define("FIREBALL_OP_PROFILE")] : []

let package = Package(
    name: "Fireball",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "fireball", targets: ["fireball"]),
        .executable(name: "fireball-bench", targets: ["fireball-bench"]),
        .library(name: "Core", targets: ["Core"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    ],
    targets: [
        // The kernel: COOS, the wasm vSoC, the router and the wire message. Depends on nothing of ours.
        .target(name: "Core", swiftSettings: [
            // Let LLVM copy the dispatch jump into every handler (threaded dispatch), see Docs/interpreter.md.
            .unsafeFlags(["-Xllvm", "-tail-dup-pred-size=1000", "-Xllvm", "-tail-dup-succ-size=1000"], .when(configuration: .release)),
            // The kernel is single-threaded and owns its objects: runtime exclusivity checks buy nothing.
            .unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release)),
        ] + opProfile),
        // Boards and simulated devices; sees only Core's interfaces.
        .target(name: "HAL", dependencies: ["Core", .product(name: "Yams", package: "Yams")]),
        // C shims: only Transport imports them.
        .systemLibrary(name: "CLibUV", pkgConfig: "libuv", providers: [.apt(["libuv1-dev"])]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]),
        .target(name: "Transport", dependencies: ["Core", "CLibUV", "COpenSSL"]),
        // Manifests, inventory, placement, deploy; reads board files through HAL.
        .target(name: "Orchestrator", dependencies: ["Transport", "HAL", "Core"]),
        .target(name: "Node", dependencies: ["Transport", "HAL", "Core"]),
        // Thin executables: argument parsing and wiring only.
        .executableTarget(name: "fireball", dependencies: [
            "Core", "HAL", "Transport", "Orchestrator", "Node",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Yams", package: "Yams"),   // `-o yaml`
        ]),
        .executableTarget(name: "fireball-bench", dependencies: [
            "Core", "HAL", "Transport", "Orchestrator", "Node", "Simulator", "FuzzTargets",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // The deterministic cluster simulator (seeded faults, invariants): its tests and `fireball-bench simulate`.
        .target(name: "Simulator", dependencies: ["Core", "HAL", "Node", "Orchestrator", "Transport"], exclude: ["Guests"]),
        // Test support only: the deterministic run of in-memory nodes that three test targets share.
        .target(name: "SimulatedNodes", dependencies: ["Core"], path: "Tests/SimulatedNodes"),
        // Test support: one seeded fuzz target per parser of outside input, run briefly by FuzzTests
        // and for hours by `fireball-bench fuzz`.
        .target(name: "FuzzTargets", dependencies: ["Core", "HAL", "Transport", "Orchestrator", "Node"], path: "Tests/FuzzTargets"),
        .testTarget(name: "CoreTests", dependencies: ["Core", "SimulatedNodes"]),
        .testTarget(name: "TransportTests", dependencies: ["Transport"]),
        .testTarget(name: "HALTests", dependencies: ["HAL", "Core", "Node", "SimulatedNodes"], exclude: ["Guests"]),
        .testTarget(name: "OrchestratorTests", dependencies: ["Orchestrator", "Node", "HAL", "Core", "SimulatedNodes"]),
        .testTarget(name: "NodeTests", dependencies: ["Node", "Orchestrator", "Transport", "HAL", "Core"], exclude: ["Guests"]),
        .testTarget(name: "FuzzTests", dependencies: ["FuzzTargets"]),
        // The official wasm spec suite (Deploy/spec-suite.pin; Deploy/fetch-spec-suite.sh), converted by wast2json at test time.
        .testTarget(name: "SpecTests", dependencies: ["Core"]),
        .testTarget(name: "SimulatorTests", dependencies: ["Simulator", "Core"]),
    ],
    swiftLanguageModes: [.v6]
)
