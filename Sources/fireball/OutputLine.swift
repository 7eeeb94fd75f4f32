// Lines out of the CLI: each one with its own write(2), never through a stdio buffer, so a pipe or a
// file sees it at once and a process stopped by SIGINT or SIGTERM has lost nothing it printed.
import Foundation

enum OutputLine {
    /// Writes `line` and a newline to `fd` whole (retrying short writes and EINTR); a closed pipe
    /// ends the write quietly (the reader is gone).
    static func write(_ line: String, to fd: Int32) {
        var bytes = Array(line.utf8)
        bytes.append(0x0A)
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let count = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
                if count > 0 { offset += count } else if count < 0 && errno == EINTR { continue } else { return }
            }
        }
    }
}
