// Parsing values typed at a command line.

extension WasmValue {
    /// Parses `text` as a value of `type`: integers in decimal (signed or unsigned) or 0x hex,
    /// floats in decimal, references as `null`.
    public init?(parsing text: String, as type: ValueType) {
        func integer(_ bits: Int) -> UInt64? {
            let negative = text.hasPrefix("-")
            let body = negative ? String(text.dropFirst()) : text
            let magnitude = body.hasPrefix("0x") ? UInt64(body.dropFirst(2), radix: 16) : UInt64(body)
            guard let magnitude else { return nil }
            let mask: UInt64 = bits == 64 ? .max : (1 << UInt64(bits)) - 1
            if negative {
                guard magnitude <= (1 << UInt64(bits - 1)) else { return nil }
                return (0 &- magnitude) & mask
            }
            return magnitude <= mask ? magnitude : nil
        }
        switch type {
        case .i32: guard let v = integer(32) else { return nil }; self = .i32(UInt32(v))
        case .i64: guard let v = integer(64) else { return nil }; self = .i64(v)
        case .f32: guard let v = Float(text) else { return nil }; self = .f32(v.bitPattern)
        case .f64: guard let v = Double(text) else { return nil }; self = .f64(v.bitPattern)
        case .funcref: guard text == "null" else { return nil }; self = .funcref(nil)
        case .externref: guard text == "null" else { return nil }; self = .externref(nil)
        }
    }
}
