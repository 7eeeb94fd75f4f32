// Script values to WasmValues, and the matching rules of assert_return (NaN patterns, references).
import Core

/// A value the runner cannot turn into a `WasmValue` (an unknown type or a malformed number).
struct SpecValueError: Error, CustomStringConvertible {
    let description: String
}

/// What an `assert_return` accepts in one result position.
enum ExpectedValue: CustomStringConvertible {
    /// This value, floats compared bit for bit.
    case exact(WasmValue)
    /// `nan:canonical`: a quiet NaN whose payload is only the quiet bit; either sign.
    case canonicalNaN(ValueType)
    /// `nan:arithmetic`: any NaN with the quiet bit set; either sign.
    case arithmeticNaN(ValueType)
    /// A non-null reference: the script names a function (or leaves the value open), and the
    /// runner cannot know the store address it will have.
    case nonNull(ValueType)

    func matches(_ actual: WasmValue) -> Bool {
        switch (self, actual) {
        case (.exact(let expected), _): expected == actual
        case (.canonicalNaN(.f32), .f32(let bits)): bits & 0x7FFF_FFFF == 0x7FC0_0000
        case (.canonicalNaN(.f64), .f64(let bits)): bits & 0x7FFF_FFFF_FFFF_FFFF == 0x7FF8_0000_0000_0000
        // The quiet bit and an all-ones exponent: a quiet NaN, any payload.
        case (.arithmeticNaN(.f32), .f32(let bits)): bits & 0x7FC0_0000 == 0x7FC0_0000
        case (.arithmeticNaN(.f64), .f64(let bits)): bits & 0x7FF8_0000_0000_0000 == 0x7FF8_0000_0000_0000
        case (.nonNull(.funcref), .funcref(let address)): address != nil
        case (.nonNull(.externref), .externref(let reference)): reference != nil
        default: false
        }
    }

    var description: String {
        switch self {
        case .exact(let value): SpecValue.describe(value)
        case .canonicalNaN(let type): "\(type):nan:canonical"
        case .arithmeticNaN(let type): "\(type):nan:arithmetic"
        case .nonNull(let type): "\(type):non-null"
        }
    }
}

enum SpecValue {
    /// An argument of an `invoke`: always a concrete value.
    static func argument(_ value: WastValue) throws(SpecValueError) -> WasmValue {
        guard let text = value.value else { throw SpecValueError(description: "argument of type \(value.type) has no value") }
        switch value.type {
        case "i32": return .i32(try integer(text, UInt32.self))
        case "i64": return .i64(try integer(text, UInt64.self))
        case "f32": return .f32(try integer(text, UInt32.self))
        case "f64": return .f64(try integer(text, UInt64.self))
        case "externref": return .externref(text == "null" ? nil : try integer(text, UInt64.self))
        case "funcref":
            // Only null can be written as a funcref argument in the text format.
            guard text == "null" else { throw SpecValueError(description: "funcref argument \(text) has no store address") }
            return .funcref(nil)
        default: throw SpecValueError(description: "unsupported argument type \(value.type)")
        }
    }

    /// An expected result of an `assert_return`.
    static func expected(_ value: WastValue) throws(SpecValueError) -> ExpectedValue {
        let text = value.value
        switch value.type {
        case "f32", "f64":
            let type: ValueType = value.type == "f32" ? .f32 : .f64
            if text == "nan:canonical" { return .canonicalNaN(type) }
            if text == "nan:arithmetic" { return .arithmeticNaN(type) }
        case "funcref", "externref":
            let type: ValueType = value.type == "funcref" ? .funcref : .externref
            guard let text else { return .nonNull(type) }
            if text == "null" { return .exact(type == .funcref ? .funcref(nil) : .externref(nil)) }
            if type == .funcref { return .nonNull(.funcref) }
        default:
            break
        }
        return .exact(try argument(value))
    }

    /// A value for a failure message: integers signed (and unsigned when they differ), floats with their bits.
    static func describe(_ value: WasmValue) -> String {
        switch value {
        case .i32(let v):
            Int32(bitPattern: v) < 0 ? "i32:\(Int32(bitPattern: v)) (\(v))" : "i32:\(v)"
        case .i64(let v):
            Int64(bitPattern: v) < 0 ? "i64:\(Int64(bitPattern: v)) (\(v))" : "i64:\(v)"
        case .f32(let v): "f32:\(Float(bitPattern: v)) (0x\(String(v, radix: 16)))"
        case .f64(let v): "f64:\(Double(bitPattern: v)) (0x\(String(v, radix: 16)))"
        case .funcref(let address): address.map { "funcref:#\($0.index)" } ?? "funcref:null"
        case .externref(let reference): reference.map { "externref:\($0)" } ?? "externref:null"
        }
    }

    static func describe(_ values: [WasmValue]) -> String {
        "[" + values.map { describe($0) }.joined(separator: ", ") + "]"
    }

    /// wast2json writes unsigned decimals; a leading minus is accepted and taken as two's complement.
    private static func integer<T: FixedWidthInteger & UnsignedInteger>(_ text: String, _: T.Type) throws(SpecValueError) -> T {
        if let value = T(text) { return value }
        if text.hasPrefix("-"), let magnitude = T(text.dropFirst()) { return 0 &- magnitude }
        throw SpecValueError(description: "malformed \(T.self) literal \(text)")
    }
}
