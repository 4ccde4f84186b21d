import Foundation

/// Who a run acts as, for the audit columns: `TELEMETRY_MIGRATE_ACTOR`, else `telemetry-migrate@<user>`.
enum AuditActor {
    static var current: String {
        let env = ProcessInfo.processInfo.environment
        if let actor = env["TELEMETRY_MIGRATE_ACTOR"], !actor.isEmpty { return actor }
        return "telemetry-migrate@" + (env["USER"] ?? env["LOGNAME"] ?? "unknown")
    }
}
