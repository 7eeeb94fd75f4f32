import Testing
@testable import Transport

@Suite struct NativeLibrariesTests {
    @Test func linksLibuvAndOpenSSLWithTLS13() {
        #expect(NativeLibraries.libuvVersion.split(separator: ".").count == 3)
        #expect(NativeLibraries.openSSLVersion.hasPrefix("OpenSSL"))
        #expect(NativeLibraries.supportsTLS13)
    }
}
