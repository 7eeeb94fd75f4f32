// The node daemon's wiring (issue 7): boots a kernel for a board, joins links, serves the control plane.
import Core
import HAL
import Transport

/// What a node reports about the build it runs.
public enum NodeInfo {
    public static var summary: String {
        "fireball node: libuv \(NativeLibraries.libuvVersion), \(NativeLibraries.openSSLVersion)"
    }
}
