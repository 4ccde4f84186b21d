import Foundation

/// Where things are, for tests: the package root, the built executable, the shared dumps.
public enum Package {
    /// The package root (the directory holding Package.swift).
    public static let root: URL = {
        var url = URL(fileURLWithPath: #filePath)
        while url.path != "/" {
            url.deleteLastPathComponent()
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url }
        }
        fatalError("no Package.swift above \(#filePath)")
    }()

    /// The `telemetry-migrate` executable that `swift test` built beside the test bundle.
    public static let executable: String = {
        // The test bundle lives in the build's bin directory, next to the executable.
        let candidates = [Bundle.main.bundleURL, Bundle.main.bundleURL.deletingLastPathComponent()]
            + CommandLine.arguments.prefix(2).map { URL(fileURLWithPath: $0).deletingLastPathComponent() }
        for directory in candidates {
            let path = directory.appendingPathComponent("telemetry-migrate").path
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        for base in Bundle.allBundles.map(\.bundleURL) {
            var dir = base
            for _ in 0..<3 {
                let path = dir.appendingPathComponent("telemetry-migrate").path
                if FileManager.default.isExecutableFile(atPath: path) { return path }
                dir.deleteLastPathComponent()
            }
        }
        return root.appendingPathComponent(".build/debug/telemetry-migrate").path
    }()

    /// `fixtures/` of this repository.
    public static var fixtures: URL { root.appendingPathComponent("fixtures") }

    /// `../shared/real-dumps`: exports written by a real InfluxDB 1.6 (beside the clone in CI).
    public static var sharedRealDumps: URL {
        root.deletingLastPathComponent().appendingPathComponent("shared/real-dumps")
    }

    /// A fresh temporary directory.
    public static func temporaryDirectory(_ label: String = "tm") throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("\(label)-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}
