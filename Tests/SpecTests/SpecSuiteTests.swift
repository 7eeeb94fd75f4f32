// The official WebAssembly spec suite (the 90 non-SIMD scripts), converted by wast2json at test time,
// run once normally and once with a yield at every safe point; both must pass and agree.
import Foundation
import Testing

/// The conversion and the normal pass, each done once and shared by both tests.
enum SpecSuite {
    static let scripts: Result<[ConvertedScript], SpecSetupError> = Result { () throws(SpecSetupError) in
        try WastConverter.convertSuite(from: SpecSuiteLocation.found.get().folder)
    }

    /// Where the suite came from and whether its content is the pinned commit's; a failure is a
    /// suite that is not the pinned one (its results may differ from the project's).
    static let provenance: Result<String, SpecSetupError> = Result { () throws(SpecSetupError) in
        let (folder, via) = try SpecSuiteLocation.found.get()
        let pin = SpecSuiteLocation.pin
        let hash = try SpecSuiteLocation.contentHash(of: folder)
        guard hash == pin.sha256 else {
            throw SpecSetupError(description: "the spec suite at \(folder.path) (via \(via)) is not the pinned one: its content "
                + "sha256 is \(hash), Deploy/spec-suite.pin says \(pin.sha256) (commit \(pin.commit)); \(SpecSuiteLocation.howToGet)")
        }
        return "spec suite: \(folder.path) (via \(via)), content of the pinned commit \(pin.commit.prefix(12))"
    }

    static let normalRun: Result<SpecReport, SpecSetupError> = scripts.map { SpecRunner.run($0, forcedYields: false) }

    /// The failure a test records when the suite cannot be had or is not the pinned one, saying why
    /// it is a failure rather than a skip.
    static func setupIssue(_ error: SpecSetupError) -> Comment {
        let why = SpecSuiteLocation.required ? " [a failure, not a skip: FIREBALL_REQUIRE_SPEC_SUITE=1 or CI=true]" : ""
        return Comment(rawValue: "spec suite: \(error)\(why)")
    }

    static var verbose: Bool { ProcessInfo.processInfo.environment["FIREBALL_SPEC_VERBOSE"] == "1" }

    /// Prints the summary line, the failures (capped), the notes, and with FIREBALL_SPEC_VERBOSE=1 the per-script table.
    static func printReport(_ report: SpecReport) {
        var lines = [report.summaryLine]
        let label = report.forcedYields ? "forced yields: " : ""
        lines.append("\(label)spec suite ran \(report.results.count) commands in \(String(format: "%.1f", report.seconds)) s")
        lines += report.failureLines(limit: 200).map { label + $0 }
        lines += report.noteLines(limit: verbose ? Int.max : 20, all: verbose).map { label + $0 }
        if verbose {
            lines.append(report.perScriptTable())
            lines.append("\(label)slowest commands:")
            lines += report.slowestLines()
        }
        print(lines.joined(separator: "\n"))
    }
}

@Suite("WebAssembly spec suite")
struct SpecSuiteTests {
    @Test("every non-SIMD spec script passes", .enabled(if: SpecSuiteLocation.shouldRun, SpecSuiteLocation.skipComment))
    func officialSuite() {
        let report: SpecReport
        switch SpecSuite.normalRun {
        case .success(let run): report = run
        case .failure(let error):
            Issue.record(SpecSuite.setupIssue(error))
            return
        }
        switch SpecSuite.provenance {
        case .success(let line): print(line)
        // Another suite than the pinned one is allowed locally (to try a newer one), not in CI.
        case .failure(let error) where SpecSuiteLocation.required: Issue.record(SpecSuite.setupIssue(error))
        case .failure(let error): print("warning: \(error)")
        }
        SpecSuite.printReport(report)
        #expect(report.failed == 0, "\(report.summaryLine)")
    }

    @Test("the suite gives the same results with a yield at every safe point",
          .enabled(if: SpecSuiteLocation.shouldRun, SpecSuiteLocation.skipComment))
    func officialSuiteWithForcedYields() {
        let scripts: [ConvertedScript]
        switch SpecSuite.scripts {
        case .success(let converted): scripts = converted
        case .failure(let error):
            Issue.record(SpecSuite.setupIssue(error))
            return
        }
        let forced = SpecRunner.run(scripts, forcedYields: true)
        SpecSuite.printReport(forced)
        #expect(forced.failed == 0, "\(forced.summaryLine)")
        if case .success(let normal) = SpecSuite.normalRun {
            let differences = forced.differences(from: normal)
            #expect(differences.isEmpty, "forced yields differ from the normal run:\n\(differences.joined(separator: "\n"))")
        }
    }
}
