// Text that came from a peer, made safe for one log line: bounded, and with nothing in it that could
// start a new line, forge another entry or drive the terminal that shows the log.

enum LogText {
    /// At most `bytesMax` bytes of `bytes` (UTF-8; cut at a character boundary, "…" marks a cut),
    /// with control characters, DEL, the C1 controls, line and paragraph separators, bidirectional
    /// overrides and the backslash escaped (`\n`, `\r`, `\t`, `\\`, else `\u{1b}`). Invalid UTF-8
    /// becomes U+FFFD.
    static func printable(_ bytes: UnsafeRawBufferPointer, bytesMax: Int) -> String {
        precondition(bytesMax >= 0)
        var end = min(bytes.count, bytesMax)
        let cut = end < bytes.count
        // Back up over continuation bytes so that a character is not split by the cut.
        if cut { while end > 0 && bytes[end] & 0xc0 == 0x80 { end -= 1 } }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[..<end]), as: UTF8.self)
        var out = ""
        out.reserveCapacity(end + (cut ? 3 : 0))
        for scalar in text.unicodeScalars {
            switch scalar.value {
            case 0x0a: out += "\\n"
            case 0x0d: out += "\\r"
            case 0x09: out += "\\t"
            case 0x5c: out += "\\\\"
            case 0x00..<0x20, 0x7f...0x9f, 0x2028, 0x2029, 0x200e, 0x200f, 0x202a...0x202e, 0x2066...0x2069:
                out += "\\u{" + String(scalar.value, radix: 16) + "}"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return cut ? out + "…" : out
    }

    /// `printable` for a String.
    static func printable(_ text: String, bytesMax: Int) -> String {
        var text = text
        return text.withUTF8 { printable(UnsafeRawBufferPointer($0), bytesMax: bytesMax) }
    }
}
