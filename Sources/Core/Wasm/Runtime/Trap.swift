// A guest fault as a value: it ends the guest's call, never the node.

/// Why execution trapped, with the function where it happened when known.
public struct Trap: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Reason: Sendable, Equatable {
        case unreachable
        case memoryOutOfBounds
        case integerDivideByZero
        case integerOverflow
        case invalidConversionToInteger
        case indirectCallTypeMismatch
        /// `call_indirect` or a table instruction past the table's end.
        case undefinedElement
        /// `call_indirect` through a null entry.
        case uninitializedElement
        case tableOutOfBounds
        case callStackExhausted
        /// A host function trapped; the text says why.
        case host(String)
    }

    public let reason: Reason
    /// Function index in its module, and its name from the name section if present.
    public var functionIndex: Int?
    public var functionName: String?

    public init(_ reason: Reason, functionIndex: Int? = nil, functionName: String? = nil) {
        self.reason = reason
        self.functionIndex = functionIndex
        self.functionName = functionName
    }

    /// The spec's wording for this trap, as the official test suite expects it.
    public var specText: String {
        switch reason {
        case .unreachable: "unreachable"
        case .memoryOutOfBounds: "out of bounds memory access"
        case .integerDivideByZero: "integer divide by zero"
        case .integerOverflow: "integer overflow"
        case .invalidConversionToInteger: "invalid conversion to integer"
        case .indirectCallTypeMismatch: "indirect call type mismatch"
        case .undefinedElement: "undefined element"
        case .uninitializedElement: "uninitialized element"
        case .tableOutOfBounds: "out of bounds table access"
        case .callStackExhausted: "call stack exhausted"
        case .host(let text): text
        }
    }

    public var description: String {
        var where_ = ""
        if let functionName { where_ = " in \(functionName)" } else if let functionIndex { where_ = " in function \(functionIndex)" }
        return "trap: \(specText)\(where_)"
    }
}
