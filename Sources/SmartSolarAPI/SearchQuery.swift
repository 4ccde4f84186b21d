import Foundation

/// A Flask-Restless comparison operator, under each of its accepted names.
public enum FilterOperator: Sendable, Hashable {
    case equal, notEqual, greater, less, greaterOrEqual, lessOrEqual
    case `in`, notIn, isNull, isNotNull, like, ilike

    /// Parses an operator name (`==`, `eq`, `equals`, `equals_to`, ...).
    public init?(name: String) {
        switch name {
        case "==", "eq", "equals", "equals_to", "equal_to": self = .equal
        case "!=", "neq", "ne", "does_not_equal", "not_equal_to": self = .notEqual
        case ">", "gt": self = .greater
        case "<", "lt": self = .less
        case ">=", "ge", "gte", "geq": self = .greaterOrEqual
        case "<=", "le", "lte", "leq": self = .lessOrEqual
        case "in": self = .in
        case "not_in": self = .notIn
        case "is_null": self = .isNull
        case "is_not_null": self = .isNotNull
        case "like": self = .like
        case "ilike": self = .ilike
        default: return nil
        }
    }

    /// Whether the operator compares with a value or another field (all but the null tests).
    var takesArgument: Bool { self != .isNull && self != .isNotNull }
}

/// The right-hand side of a comparison.
enum FilterArgument: Sendable, Hashable {
    case none
    case value(QueryValue)
    /// Another column of the same resource (Flask-Restless's `"field"` form).
    case field(Column)
}

/// A filter formula: comparisons combined by `and` / `or`.
indirect enum Filter: Sendable, Hashable {
    case comparison(Column, FilterOperator, FilterArgument)
    case and([Filter])
    case or([Filter])
}

public struct OrderBy: Sendable, Hashable {
    public let column: Column
    public let descending: Bool
}

/// A parsed, validated `q` parameter. Invariant: every `Column` in it belongs to the
/// resource it was parsed for, so compiling it never puts request text into SQL.
public struct SearchQuery: Sendable, Hashable {
    var filters: [Filter] = []
    public var orderBy: [OrderBy] = []
    public var groupBy: [Column] = []
    public var limit: Int?
    public var offset: Int?
    public var single = false

    public init() {}
}

/// Why a request is malformed: always answered with 400 and this message.
public struct BadRequest: Error, Sendable, Equatable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

extension SearchQuery {
    /// Parses the JSON text of `q` against the whitelist of `resource`.
    /// Throws `BadRequest` naming what is wrong: bad JSON, an unknown field or operator,
    /// a missing `val`, a value of the wrong shape.
    public init(json text: String, for resource: Resource) throws(BadRequest) {
        guard text.utf8.count <= APILimits.maxQueryBytes else {
            throw BadRequest("q is longer than \(APILimits.maxQueryBytes) bytes")
        }
        let document = try QueryValue.parse(text, maxDepth: APILimits.maxQueryDepth)
        guard case .object(let top) = document else {
            throw BadRequest("Unable to decode search query: q must be a JSON object")
        }
        self.init()
        let parser = SearchQueryParser(resource: resource)
        if let filters = top["filters"] {
            guard case .array(let items) = filters else { throw BadRequest("filters must be an array") }
            self.filters = try items.map(parser.filter)
        }
        if let order = top["order_by"] {
            guard case .array(let items) = order else { throw BadRequest("order_by must be an array") }
            self.orderBy = try items.map(parser.orderBy)
        }
        if let group = top["group_by"] {
            guard case .array(let items) = group else { throw BadRequest("group_by must be an array") }
            self.groupBy = try items.map(parser.groupBy)
        }
        self.limit = try parser.count(top["limit"], name: "limit")
        self.offset = try parser.count(top["offset"], name: "offset")
        switch top["single"] {
        case nil, .null: break
        case .bool(let b): single = b
        case .some(let other): throw BadRequest("single must be a boolean, not \(other.typeName)")
        }
    }
}

/// Turns the JSON parts of `q` into checked values for one resource.
struct SearchQueryParser {
    let resource: Resource

    func column(_ value: QueryValue?, role: String) throws(BadRequest) -> Column {
        guard case .string(let name)? = value else {
            throw BadRequest("\(role) must be a field name (a string)")
        }
        guard let column = resource.column(named: name) else {
            throw BadRequest("Unknown field \"\(Self.quoted(name))\" in \(resource.name)")
        }
        return column
    }

    func filter(_ value: QueryValue) throws(BadRequest) -> Filter {
        guard case .object(let object) = value else {
            throw BadRequest("each filter must be an object, not \(value.typeName)")
        }
        if object.count == 1, let (key, operands) = object.first, key == "or" || key == "and" {
            guard case .array(let items) = operands else { throw BadRequest("\"\(key)\" must hold an array of filters") }
            var parts: [Filter] = []
            for item in items { parts.append(try filter(item)) }
            return key == "or" ? .or(parts) : .and(parts)
        }
        let left = try column(object["name"], role: "name of a filter")
        guard case .string(let opName)? = object["op"] else {
            throw BadRequest("filter on \"\(left.name)\" has no operator (op)")
        }
        guard let op = FilterOperator(name: opName) else {
            throw BadRequest("Unknown operator \"\(Self.quoted(opName))\" in filter on \"\(left.name)\"")
        }
        guard op.takesArgument else { return .comparison(left, op, .none) }
        if let other = object["field"] {
            return .comparison(left, op, .field(try column(other, role: "field of a filter")))
        }
        guard let argument = object["val"] else {
            throw BadRequest("filter on \"\(left.name)\" with operator \"\(opName)\" has no val")
        }
        return .comparison(left, op, .value(argument))
    }

    func orderBy(_ value: QueryValue) throws(BadRequest) -> OrderBy {
        guard case .object(let object) = value else { throw BadRequest("each order_by item must be an object") }
        let column = try column(object["field"], role: "field of order_by")
        switch object["direction"] {
        case nil, .string("asc")?: return OrderBy(column: column, descending: false)
        case .string("desc")?: return OrderBy(column: column, descending: true)
        default: throw BadRequest("direction of order_by must be \"asc\" or \"desc\"")
        }
    }

    func groupBy(_ value: QueryValue) throws(BadRequest) -> Column {
        guard case .object(let object) = value else { throw BadRequest("each group_by item must be an object") }
        return try column(object["field"], role: "field of group_by")
    }

    func count(_ value: QueryValue?, name: String) throws(BadRequest) -> Int? {
        switch value {
        case nil, .null?: return nil
        case .int(let n)? where n >= 0 && n <= Int64(Int32.max): return Int(n)
        default: throw BadRequest("\(name) must be a non-negative integer")
        }
    }

    /// Caps request text echoed in a message, so an error body stays small.
    static func quoted(_ text: String) -> String {
        text.count <= 64 ? text : String(text.prefix(64)) + "..."
    }
}
