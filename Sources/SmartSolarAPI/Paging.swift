/// Flask-Restless pagination of a result: the query's own `offset` / `limit` cut a window
/// out of all matching rows, and `page` / `results_per_page` page through that window.
///
/// Invariants: `0 <= numResults <= matching`; `totalPages == ceil(numResults / resultsPerPage)`.
/// No arithmetic here can overflow, whatever the inputs (`page` up to `Int.max` included).
public struct PageWindow: Sendable, Equatable {
    public static let defaultResultsPerPage = 10
    public static let maxResultsPerPage = 100

    public let page: Int
    public let resultsPerPage: Int
    public let numResults: Int
    public let totalPages: Int

    /// - Parameters: `matching` rows in all (>= 0), the query's `offset` and `limit`
    ///   (>= 0), the 1-based page, `resultsPerPage` >= 1.
    public init(matching: Int, offset: Int?, limit: Int?, page: Int, resultsPerPage: Int) {
        let start = min(offset ?? 0, matching)
        let remaining = matching - start
        numResults = limit.map { min(remaining, $0) } ?? remaining
        self.page = page
        self.resultsPerPage = resultsPerPage
        totalPages = numResults / resultsPerPage + (numResults % resultsPerPage == 0 ? 0 : 1)
    }

    /// The rows of all matching rows (ordered) that page `page` shows, as the statement's
    /// OFFSET and LIMIT; nil when the page is certainly empty (past the query's `limit`, or
    /// an offset beyond `Int64`). Needs no count: the window starts at `offset + skipped`.
    public static func fetch(offset: Int?, limit: Int?, page: Int, resultsPerPage: Int) -> (offset: Int, limit: Int)? {
        let (skipped, skipOverflow) = (page - 1).multipliedReportingOverflow(by: resultsPerPage)
        let (start, startOverflow) = (offset ?? 0).addingReportingOverflow(skipped)
        guard !skipOverflow, !startOverflow else { return nil }
        let wanted = limit.map { skipped >= $0 ? 0 : min(resultsPerPage, $0 - skipped) } ?? resultsPerPage
        return wanted == 0 ? nil : (start, wanted)
    }

    /// Reads `page` (default 1, at least 1) and `results_per_page` (default 10, at least 1,
    /// capped at 100) from the URL query.
    public static func pageParameters(page: String?, resultsPerPage: String?) throws(BadRequest) -> (page: Int, resultsPerPage: Int) {
        var pageNumber = 1
        if let page {
            guard let n = Int(page), n >= 1 else { throw BadRequest("page must be a positive integer") }
            pageNumber = n
        }
        var perPage = defaultResultsPerPage
        if let resultsPerPage {
            guard let n = Int(resultsPerPage), n >= 1 else {
                throw BadRequest("results_per_page must be a positive integer")
            }
            perPage = min(n, maxResultsPerPage)
        }
        return (pageNumber, perPage)
    }
}
