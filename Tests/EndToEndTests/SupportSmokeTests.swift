import Foundation
import Testing
import TestSupport

@Suite struct SupportSmokeTests {
    @Test(.enabled(if: Requirement.database.testsRun))
    func createsAndDropsADatabase() throws {
        let db = try TestDatabase.create(label: "smoke")
        #expect(try db.psql("select 40 + 2").trimmingCharacters(in: .whitespacesAndNewlines) == "42")
        db.drop()
        #expect(throws: TestFailure.self) { try db.psql("select 1") }
    }

    @Test func findsTheExecutable() {
        #expect(FileManager.default.isExecutableFile(atPath: Package.executable), "\(Package.executable)")
    }
}
