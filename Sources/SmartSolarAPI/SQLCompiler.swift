import PostgresClient
import TelemetryCore

/// SQL text with its parameters. Invariant: `sql` holds only whitelisted identifiers,
/// fixed keywords, `$n` placeholders and the numbers of a page statement's `LIMIT` and zero
/// `OFFSET` (integers the server computed, printed by Swift); every value from a request
/// is in `parameters`.
public struct CompiledSQL: Sendable, Hashable {
    public var sql: String
    public var parameters: [PostgresValue]
}

/// Collects parameters and hands out their placeholders, each cast to the column's type.
struct ParameterList {
    private(set) var values: [PostgresValue] = []

    mutating func bind(_ value: PostgresValue, as type: String) -> String {
        values.append(value)
        return "$\(values.count)::\(type)"
    }
}

/// Compiles a `SearchQuery` for one resource into the count and page statements.
public struct SQLCompiler: Sendable {
    public let resource: Resource
    public let query: SearchQuery

    public init(resource: Resource, query: SearchQuery) {
        self.resource = resource
        self.query = query
    }

    /// `count(*)` of at most `cap` matching rows: the cost is bounded by `cap` rows read.
    public func cappedCountStatement(cap: Int) throws(BadRequest) -> CompiledSQL {
        var parameters = ParameterList()
        let source = try self.source(&parameters)
        let capPlaceholder = parameters.bind(.int(Int64(cap)), as: "bigint")
        return CompiledSQL(sql: "SELECT count(*) FROM (SELECT 1 FROM \(source) LIMIT \(capPlaceholder)) AS capped",
                           parameters: parameters.values)
    }

    /// `EXPLAIN` of the matching rows: its first line carries the planner's `rows=` estimate.
    public func explainStatement() throws(BadRequest) -> CompiledSQL {
        var parameters = ParameterList()
        let source = try self.source(&parameters)
        return CompiledSQL(sql: "EXPLAIN SELECT 1 FROM \(source)", parameters: parameters.values)
    }

    /// The rows `offset ..< offset + limit` of the ordered result, every column.
    ///
    /// The `LIMIT` (at most `PageWindow.maxResultsPerPage + 1` for a page) and an `OFFSET` of
    /// 0 are written as numbers, other offsets bound: PostgreSQL plans a `LIMIT $n` or
    /// `OFFSET $n` of unknown value as if it kept a tenth of the rows, so a prepared page
    /// statement never found its generic plan as cheap as a custom one and was planned again
    /// on every execution; with both known, the first pages (most requests) are planned
    /// once a connection, and a few hundred texts at most are added to the statement cache.
    public func pageStatement(offset: Int, limit: Int) throws(BadRequest) -> CompiledSQL {
        var parameters = ParameterList()
        let source = try self.source(&parameters)
        let offsetText = offset == 0 ? "0" : parameters.bind(.int(Int64(offset)), as: "bigint")
        let sql = "SELECT \(resource.selectList) FROM \(source) ORDER BY \(orderList())"
            + " LIMIT \(limit) OFFSET \(offsetText)"
        return CompiledSQL(sql: sql, parameters: parameters.values)
    }

    /// The table with its WHERE clause; under `group_by`, one row per group (the first in
    /// the requested order, by `DISTINCT ON`), as a subquery with the table's columns.
    func source(_ parameters: inout ParameterList) throws(BadRequest) -> String {
        let condition = try self.condition(.and(query.filters), &parameters)
        let filtered = condition == "TRUE" ? resource.table : "\(resource.table) WHERE \(condition)"
        guard !query.groupBy.isEmpty else { return filtered }
        let groups = query.groupBy.map(\.name).joined(separator: ", ")
        return "(SELECT DISTINCT ON (\(groups)) \(resource.selectList) FROM \(filtered)"
            + " ORDER BY \(groups), \(orderList())) AS grouped"
    }

    /// The requested order, then the primary key, so that pages never overlap.
    func orderList() -> String {
        var items = query.orderBy.map { "\($0.column.name) \($0.descending ? "DESC" : "ASC")" }
        if !query.orderBy.contains(where: { $0.column.name == resource.primaryKey }) {
            items.append("\(resource.primaryKey) ASC")
        }
        return items.joined(separator: ", ")
    }

    func condition(_ filter: Filter, _ parameters: inout ParameterList) throws(BadRequest) -> String {
        switch filter {
        case .and(let parts), .or(let parts):
            let isAnd = if case .and = filter { true } else { false }
            if parts.isEmpty { return isAnd ? "TRUE" : "FALSE" }
            var compiled: [String] = []
            for part in parts { compiled.append(try condition(part, &parameters)) }
            if compiled.count == 1 { return compiled[0] }
            return "(" + compiled.joined(separator: isAnd ? " AND " : " OR ") + ")"
        case .comparison(let column, let op, let argument):
            return try comparison(column, op, argument, &parameters)
        }
    }

    func comparison(_ column: Column, _ op: FilterOperator, _ argument: FilterArgument,
                    _ parameters: inout ParameterList) throws(BadRequest) -> String {
        let name = column.name
        switch (op, argument) {
        case (.isNull, _): return "\(name) IS NULL"
        case (.isNotNull, _): return "\(name) IS NOT NULL"
        case (.like, .field(let other)): return "\(name)::text LIKE \(other.name)::text"
        case (.ilike, .field(let other)): return "\(name)::text ILIKE \(other.name)::text"
        case (.in, .field), (.notIn, .field):
            throw BadRequest("operator in / not_in on \"\(name)\" needs a list in val, not a field")
        case (_, .field(let other)):
            guard other.kind == column.kind else {
                throw BadRequest("cannot compare field \"\(name)\" (\(column.kind.rawValue)) with field \"\(other.name)\" (\(other.kind.rawValue))")
            }
            return "\(name) \(Self.sqlOperator(op)) \(other.name)"
        case (.like, .value(let value)), (.ilike, .value(let value)):
            guard case .string(let pattern) = value else {
                throw BadRequest("val of like / ilike on \"\(name)\" must be a string pattern")
            }
            guard pattern.count <= APILimits.maxPatternLength else {
                throw BadRequest("pattern of like / ilike on \"\(name)\" is longer than \(APILimits.maxPatternLength) characters")
            }
            let placeholder = parameters.bind(.text(pattern), as: "text")
            return "\(name)::text \(op == .like ? "LIKE" : "ILIKE") \(placeholder)"
        case (.in, .value(let value)), (.notIn, .value(let value)):
            guard case .array(let items) = value else {
                throw BadRequest("val of in / not_in on \"\(name)\" must be a list")
            }
            guard items.count <= APILimits.maxInItems else {
                throw BadRequest("val of in / not_in on \"\(name)\" has more than \(APILimits.maxInItems) items")
            }
            if items.isEmpty { return op == .in ? "FALSE" : "TRUE" }
            var placeholders: [String] = []
            for item in items {
                placeholders.append(parameters.bind(try Self.bindable(item, for: column), as: column.kind.sqlType))
            }
            return "\(name) \(op == .in ? "IN" : "NOT IN") (\(placeholders.joined(separator: ", ")))"
        case (.equal, .value(.null)): return "\(name) IS NULL"
        case (.notEqual, .value(.null)): return "\(name) IS NOT NULL"
        case (_, .value(let value)):
            let placeholder = parameters.bind(try Self.bindable(value, for: column), as: column.kind.sqlType)
            return "\(name) \(Self.sqlOperator(op)) \(placeholder)"
        case (_, .none):
            throw BadRequest("filter on \"\(name)\" has no val")
        }
    }

    static func sqlOperator(_ op: FilterOperator) -> String {
        switch op {
        case .equal: "="
        case .notEqual: "<>"
        case .greater: ">"
        case .less: "<"
        case .greaterOrEqual: ">="
        case .lessOrEqual: "<="
        case .in: "IN"
        case .notIn: "NOT IN"
        case .isNull: "IS NULL"
        case .isNotNull: "IS NOT NULL"
        case .like: "LIKE"
        case .ilike: "ILIKE"
        }
    }

    /// Checks a JSON value against the column's kind and converts it to a parameter.
    static func bindable(_ value: QueryValue, for column: Column) throws(BadRequest) -> PostgresValue {
        switch (column.kind, value) {
        case (.integer, .int(let n)): return .int(n)
        case (.integer, .string(let s)) where Int64(s) != nil: return .int(Int64(s)!)
        case (.integer, .double(let d)) where d.rounded() == d && abs(d) < 9e15: return .int(Int64(d))
        case (.text, .string(let s)): return .text(s)
        case (.text, .int(let n)): return .text(String(n))
        case (.timestamp, .string(let s)):
            guard let micros = UTCTime.parseMicros(s) else {
                throw BadRequest("val \"\(SearchQueryParser.quoted(s))\" of field \"\(column.name)\" is not a datetime (YYYY-MM-DD HH:MM:SS or RFC 3339)")
            }
            return .timestamp(micros: micros)
        case (_, .null):
            throw BadRequest("val of field \"\(column.name)\" must not be null with this operator")
        default:
            throw BadRequest("val of field \"\(column.name)\" must be \(column.kind == .integer ? "an integer" : column.kind == .text ? "a string" : "a datetime string"), not \(value.typeName)")
        }
    }
}
