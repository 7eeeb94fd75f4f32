// Capabilities (after Tock): privileged kernel operations take a token that only the node's wiring
// code can obtain, once. Tokens are ~Copyable: they can be lent (`borrowing`), never duplicated.

/// Load, kill and restart tasks.
public struct ProcessCapability: ~Copyable { init() {} }
/// Register a service URI under a system role (hal, logging, router).
public struct SystemRoleCapability: ~Copyable { init() {} }

/// Every capability of one kernel, handed out once by `Kernel.mintCapabilities()`.
public struct KernelCapabilities: ~Copyable {
    public let process: ProcessCapability
    public let systemRole: SystemRoleCapability
    init() {
        process = ProcessCapability()
        systemRole = SystemRoleCapability()
    }
}

/// One-time initialisation of a static kernel component (Tock's `static_init!`): the second
/// `initialize` is a programmer error and traps.
public struct OnceCell<Value> {
    private var storage: Value?
    public init() {}
    public var value: Value? { storage }
    public mutating func initialize(_ value: Value, _ what: StaticString = "component") {
        precondition(storage == nil, "one-time initialisation of \(what) ran twice")
        storage = value
    }
}

extension Kernel {
    /// The node's capabilities. Only wiring code calls this, first thing after boot; a second
    /// call traps, so nothing that runs later (services, protocol handlers) can obtain them.
    public func mintCapabilities() -> KernelCapabilities {
        capabilitiesMinted.initialize(true, "kernel capabilities")
        return KernelCapabilities()
    }
}
