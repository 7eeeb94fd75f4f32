import Orchestrator
import Testing

@Test func controlProtocolVersionIsPositive() {
    #expect(Orchestrator.controlProtocolVersion >= 1)
}
