import Foundation
import Migration

/// A one-line progress display on a terminal: dump, bytes read of total, points/s, ETA.
/// Exists only when standard error is a terminal, so cron mail and log files never see it.
final class ProgressLine {
    private var lastDraw = Date.distantPast

    static func forStandardError() -> ProgressLine? {
        isatty(STDERR_FILENO) == 1 ? ProgressLine() : nil
    }

    func update(_ progress: RunProgress) {
        let now = Date()
        guard now.timeIntervalSince(lastDraw) >= 0.2 else { return }
        lastDraw = now
        let fraction = progress.bytesTotal > 0 ? Double(progress.bytesDone) / Double(progress.bytesTotal) : 0
        let rate = progress.elapsedSeconds > 0 ? Double(progress.points) / progress.elapsedSeconds : 0
        let eta = fraction > 0 ? progress.elapsedSeconds * (1 - fraction) / fraction : 0
        let line = "[\(progress.dumpIndex + 1)/\(progress.dumpCount)] \(progress.dump)  "
            + "\(Self.bytes(progress.bytesDone)) of \(Self.bytes(progress.bytesTotal)) (\(Int(fraction * 100))%)  "
            + "\(Int(rate)) points/s  ETA \(Self.duration(eta))"
        FileHandle.standardError.write(Data(("\r\u{1B}[2K" + line).utf8))
    }

    func clear() {
        FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8))
    }

    static func bytes(_ count: UInt64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(count)
        var unit = 0
        while value >= 1024 && unit < units.count - 1 { value /= 1024; unit += 1 }
        return unit == 0 ? "\(count) B" : String(format: "%.1f ", value) + units[unit]
    }

    static func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%dh%02dm", s / 3600, s / 60 % 60) : String(format: "%dm%02ds", s / 60, s % 60)
    }
}
