// Manifests, inventory, placement and deploy live here (issue 7).
import Transport

/// The orchestrator's version of the control-plane protocol it speaks.
public enum Orchestrator {
    public static let controlProtocolVersion = 1
}
