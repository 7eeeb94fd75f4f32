// Who serves what within one app (issue 15): a used URI nobody serves is a warning, one served by
// two modules that could share a node an error naming both and the line, apart a warning.
import HAL
import Testing
@testable import Orchestrator

@Suite struct ServiceCheckTests {
    func app(_ text: String) throws -> AppManifest {
        let wasm = try Fixtures.wat("(module (memory 1 1) (func (export \"run\")))")
        return try AppManifest.parse(text, file: "app.yaml") { name in ("apps/\(name)", wasm) }
    }

    func inventory() throws -> ClusterInventory {
        let board = try Fixtures.board("esp32-c3")
        return ClusterInventory(name: "t", nodes: [Fixtures.node("a", board, labels: ["zone": "north"]), Fixtures.node("b", board, labels: ["zone": "south"])])
    }

    @Test func aUsedURINobodyServesIsAWarningWithItsLine() throws {
        let warnings = try ServiceCheck.check(try app("""
            app: demo
            modules:
              - name: pong
                wasm: p.wasm
                serves: [fireball://pong/echo]
              - name: ping
                wasm: p.wasm
                uses: [fireball://pong/echo, fireball://pong/ehco, fireball://clock/tick@a]
            """), against: try inventory())
        #expect(warnings.count == 2, "\(warnings)")
        #expect(warnings.first?.hasPrefix("app.yaml:8: modules[1].uses: module 'ping' uses fireball://pong/ehco, but no module of app demo serves it") == true, "\(warnings)")
        #expect(warnings.last?.contains("uses fireball://clock/tick,") == true, "a node-pinned URI is checked without its node")
    }

    @Test func aURIServedByTwoModulesThatCanShareANodeIsAnErrorNamingBoth() throws {
        let text = """
            app: demo
            modules:
              - name: first
                wasm: p.wasm
                serves: [fireball://pong/echo]
              - name: second
                wasm: p.wasm
                serves: [fireball://other/x, fireball://pong/echo]
            """
        #expect {
            _ = try ServiceCheck.check(try app(text), against: try inventory())
        } throws: { error in
            let text = "\(error)"
            return text.hasPrefix("app.yaml:8: modules[1].serves: module 'second' serves fireball://pong/echo, and so does module 'first' (app.yaml:5)")
        }
    }

    @Test func twoServersKeptApartByAffinityAreAWarning() throws {
        let apart = try app("""
            app: demo
            modules:
              - name: north
                wasm: p.wasm
                serves: [fireball://weather/now]
                affinity: {node-labels: {zone: north}}
              - name: south
                wasm: p.wasm
                serves: [fireball://weather/now]
                affinity: {node-labels: {zone: south}}
            """)
        let warnings = try ServiceCheck.check(apart, against: try inventory())
        #expect(warnings.count == 1 && warnings[0].contains("module 'south' serves fireball://weather/now, and so does module 'north'"), "\(warnings)")
        let avoiding = try app("""
            app: demo
            modules:
              - name: one
                wasm: p.wasm
                serves: [fireball://weather/now]
                affinity: {avoid-modules: [two]}
              - name: two
                wasm: p.wasm
                serves: [fireball://weather/now]
            """)
        #expect(try ServiceCheck.check(avoiding, against: try inventory()).count == 1)
    }
}
