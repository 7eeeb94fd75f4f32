import Node
import Testing

@Test func nodeSummaryNamesBothLibraries() {
    #expect(NodeInfo.summary.contains("libuv"))
    #expect(NodeInfo.summary.contains("OpenSSL"))
}
