// The Orchestrator module's `DeviceSpec` (HAL has one too, and the module's `Orchestrator` enum
// shadows the module name), named apart for the inventory target.
import Orchestrator

typealias InventoryDevice = DeviceSpec
