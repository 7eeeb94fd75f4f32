// Versions of the C libraries that Transport links, for `fireball version` and link-time checks.
import CLibUV
import COpenSSL

/// The libuv and OpenSSL that this build runs on.
public enum NativeLibraries {
    /// libuv's version string (`uv_version_string`).
    public static var libuvVersion: String { String(cString: uv_version_string()) }

    /// OpenSSL's version line (`OpenSSL_version(OPENSSL_VERSION)`).
    public static var openSSLVersion: String { String(cString: OpenSSL_version(OPENSSL_VERSION)) }

    /// True if this OpenSSL speaks TLS 1.3, which every cluster link requires.
    public static var supportsTLS13: Bool { OpenSSL_version_num() >= 0x1010_1000 }
}
