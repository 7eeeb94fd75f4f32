// Names as the spec compares them: by their UTF-8 bytes.

/// An import or export name. Swift's `String ==` treats canonically equivalent spellings as equal
/// ("Å" precomposed and "A" + combining ring); wasm names are byte strings, so two such exports
/// are different names. Keys of this type keep them apart.
public struct WasmName: Hashable, Sendable, ExpressibleByStringLiteral, CustomStringConvertible {
    public let utf8: [UInt8]
    public init(_ string: String) { utf8 = Array(string.utf8) }
    public init(stringLiteral value: String) { self.init(value) }
    public var string: String { String(decoding: utf8, as: UTF8.self) }
    public var description: String { string }
}
