// A text form of entries for people at a terminal: `KEY=TYPE:VALUE`, as `fireball message` takes it.

extension MessageEntry {
    /// Parses `KEY=TYPE:VALUE`. KEY is a functional key (`7`, `0x1f`), a dictionary offset (`@12`)
    /// or a dictionary string (`@temperature`, looked up in `dictionary`); TYPE is i32, u32, f32 or shm.
    public init(text: String, dictionary: MessageDictionary? = nil) throws(MessageError) {
        func fail(_ why: String) -> MessageError { MessageError(.unknownType, detail: "entry '\(text)': \(why)") }
        guard let equals = text.firstIndex(of: "="), let colon = text[equals...].firstIndex(of: ":") else {
            throw fail("expected KEY=TYPE:VALUE")
        }
        let keyText = text[..<equals]
        let typeText = text[text.index(after: equals)..<colon]
        let valueText = String(text[text.index(after: colon)...])

        let key: MessageKey
        if keyText.hasPrefix("@") {
            let name = String(keyText.dropFirst())
            if let offset = UInt32(name), offset <= MessageKey.rawMax {
                key = .dictionary(offset)
            } else if let dictionary, let found = dictionary.key(name) {
                key = found
            } else {
                throw fail(dictionary == nil ? "'\(name)' needs a dictionary" : "'\(name)' is not in the dictionary")
            }
        } else if let raw = Self.parseUnsigned(keyText), raw <= MessageKey.rawMax {
            key = .functional(raw)
        } else {
            throw fail("key '\(keyText)' is not a number below 2^24 or @name")
        }

        switch typeText {
        case "i32":
            guard let v = Int32(valueText) else { throw fail("'\(valueText)' is not an i32") }
            self.init(key: key, value: v)
        case "u32":
            guard let v = Self.parseUnsigned(Substring(valueText)) else { throw fail("'\(valueText)' is not a u32") }
            self.init(key: key, value: v)
        case "f32":
            guard let v = Float(valueText) else { throw fail("'\(valueText)' is not an f32") }
            self.init(key: key, value: v)
        case "shm":
            guard let v = Self.parseUnsigned(Substring(valueText)) else { throw fail("'\(valueText)' is not a handle") }
            self.init(key: key, value: SharedMemoryID(v))
        default:
            throw fail("type '\(typeText)' is not one of i32, u32, f32, shm")
        }
    }

    private static func parseUnsigned(_ text: Substring) -> UInt32? {
        text.hasPrefix("0x") ? UInt32(text.dropFirst(2), radix: 16) : UInt32(text)
    }
}
