// Float operations whose wasm meaning differs from Swift's standard library:
// min/max propagate NaN and order -0 below +0; saturating truncations clamp and map NaN to 0.

@inline(__always) func wasmMin<F: BinaryFloatingPoint>(_ a: F, _ b: F) -> F {
    if a.isNaN || b.isNaN { return a + b }       // a NaN operand gives a NaN (arithmetic NaN)
    if a == b { return a.sign == .minus ? a : b } // -0 is the smaller zero
    return a < b ? a : b
}

@inline(__always) func wasmMax<F: BinaryFloatingPoint>(_ a: F, _ b: F) -> F {
    if a.isNaN || b.isNaN { return a + b }
    if a == b { return a.sign == .minus ? b : a }
    return a > b ? a : b
}

@inline(__always) func saturateS32<F: BinaryFloatingPoint>(_ v: F) -> UInt64 {
    if v.isNaN { return 0 }
    if v <= -2147483648.0 { return UInt64(UInt32(bitPattern: Int32.min)) }
    if v >= 2147483647.0 { return UInt64(UInt32(bitPattern: Int32.max)) }
    return UInt64(UInt32(bitPattern: Int32(v)))
}

@inline(__always) func saturateU32<F: BinaryFloatingPoint>(_ v: F) -> UInt64 {
    if v.isNaN || v <= 0 { return 0 }
    if v >= 4294967295.0 { return UInt64(UInt32.max) }
    return UInt64(UInt32(v))
}

@inline(__always) func saturateS64<F: BinaryFloatingPoint>(_ v: F) -> UInt64 {
    if v.isNaN { return 0 }
    if v <= -9223372036854775808.0 { return UInt64(bitPattern: Int64.min) }
    if v >= 9223372036854775808.0 { return UInt64(bitPattern: Int64.max) }
    return UInt64(bitPattern: Int64(v))
}

@inline(__always) func saturateU64<F: BinaryFloatingPoint>(_ v: F) -> UInt64 {
    if v.isNaN || v <= 0 { return 0 }
    if v >= 18446744073709551616.0 { return UInt64.max }
    return UInt64(v)
}
