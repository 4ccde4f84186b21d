import Foundation
import TelemetryCore

/// What `inspect` found in one dump: the reader's view, without any database.
///
/// Invariant: `read` counts every point of the dump, of any measurement (DESIGN.md, "A
/// point"), so `read = selected + otherMeasurement`, and `measurements` sums to `read`.
public struct DumpSummary: Sendable {
    public var name: String
    /// Every point of the dump.
    public var read = 0
    /// Points of the selected measurement (and database and retention policy, when given).
    public var selected = 0
    public var otherMeasurement = 0
    public var malformed = 0
    /// Points per measurement name.
    public var measurements: [String: Int] = [:]
    /// Distinct IMEIs of selected points (the set itself lives only while the dump is read).
    public var products = 0
    /// Nanoseconds, of selected points.
    public var firstTime: Int64?
    public var lastTime: Int64?
    /// The first `rejectLimit` malformed lines.
    public var rejects: [Reject] = []
    public var compression: String = "unknown"
    public var format: String?
    public var error: String?

    public static let rejectLimit = 10

    public init(name: String) { self.name = name }

    /// Reads the dump at `path` to its end (or its first error, kept in `error`).
    public static func inspect(path: String, options: ReaderOptions) -> DumpSummary {
        var summary = DumpSummary(name: (path as NSString).lastPathComponent)
        do {
            let dump = try DumpFile(path: path, options: options)
            defer {
                summary.compression = dump.compression?.description ?? "unknown"
                summary.format = dump.format?.rawValue
            }
            var lastIMEI = ""
            // IMEIs as numbers in an `IntegerTable`: hashing 100,000 Strings into a growing Set was
            // a fifth of inspect's CPU, and SipHashing their numbers still a third of its reading thread's.
            var products = IntegerTable(capacity: 1 << 12)
            defer { summary.products = products.count }
            defer {
                if summary.selected > 0 { summary.measurements[options.measurement, default: 0] += summary.selected }
                summary.read = summary.selected + summary.otherMeasurement
            }
            try dump.read { event in
                switch event {
                case .point(let point):
                    // Every selected point is of `options.measurement`; consecutive points mostly share an IMEI.
                    summary.selected += 1
                    if point.imei != lastIMEI {
                        products[IMEIKey.of(point.imei) ?? 0] = 0  // selected IMEIs are 1-15 digits
                        lastIMEI = point.imei
                    }
                    summary.firstTime = min(summary.firstTime ?? point.time, point.time)
                    summary.lastTime = max(summary.lastTime ?? point.time, point.time)
                case .other(let point):
                    summary.otherMeasurement += 1
                    summary.measurements[point.measurement, default: 0] += 1
                case .malformed(let reject):
                    summary.malformed += 1
                    if summary.rejects.count < rejectLimit { summary.rejects.append(reject) }
                }
            }
        } catch let error as DumpError {
            summary.error = error.description
        } catch {
            summary.error = "\(error)"
        }
        if summary.error != nil { summary.compression = "error" }
        return summary
    }

    /// A time of this summary (nanoseconds) as the reports write it.
    public static func time(_ nanos: Int64?) -> String? {
        nanos.map { UTCTime.format(micros: UTCTime.micros(fromNanos: $0), .iso) }
    }

    /// `{"dumps": [...]}`: DESIGN.md's `dumps` array (counts a database would decide are
    /// null), then inspect's own keys; measurements in name order. Linear in the number of
    /// distinct measurements.
    public static func json(_ summaries: [DumpSummary]) -> String {
        var json = JSONWriter(style: .pretty)
        json.object { json in
            json.key("dumps")
            json.array { json in
                for summary in summaries { summary.write(to: &json) }
            }
        }
        return json.output + "\n"
    }

    private func write(to json: inout JSONWriter) {
        json.object { json in
            json.member("name", name)
            json.member("status", error == nil ? "completed" : "failed")
            json.member("read", read)
            for key in ["inserted", "stale", "present", "unknown_product"] { json.key(key); json.null() }
            json.member("other_measurement", otherMeasurement)
            json.member("malformed", malformed)
            json.key("duplicates"); json.null()
            json.member("first_time", Self.time(firstTime))
            json.member("last_time", Self.time(lastTime))
            json.member("error", error)
            json.key("measurements")
            json.object { json in
                for (measurement, count) in measurements.sorted(by: { $0.key < $1.key }) { json.member(measurement, count) }
            }
            json.member("products", products)
            json.member("compression", compression)
            json.member("format", format)
            json.key("rejects")
            json.array { json in
                for reject in rejects {
                    json.object(style: .inline) { json in
                        json.member("line", reject.line)
                        json.member("column", reject.column)
                        json.member("reason", reject.reason)
                    }
                }
            }
        }
    }
}
