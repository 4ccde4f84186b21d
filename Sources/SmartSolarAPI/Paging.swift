/// Flask-Restless pagination of a result: the query's own `offset` / `limit` cut a window
/// out of all matching rows, and `page` / `results_per_page` page through that window.
///
/// Invariants: `0 <= numResults`; `totalPages == ceil(numResults / resultsPerPage)`;
/// the page's rows are `rowOffset ..< rowOffset + rowLimit` of all matching rows.
public struct PageWindow: Sendable, Equatable {
    public static let defaultResultsPerPage = 10
    public static let maxResultsPerPage = 100

    public let page: Int
    public let resultsPerPage: Int
    public let numResults: Int
    public let totalPages: Int
    /// Offset into all matching rows (ordered) of the page's first row.
    public let rowOffset: Int
    /// Rows on this page (0 past the last page).
    public let rowLimit: Int

    /// - Parameters: `matching` rows in all, the query's `offset` and `limit`, the 1-based page.
    public init(matching: Int, offset: Int?, limit: Int?, page: Int, resultsPerPage: Int) {
        let start = min(offset ?? 0, matching)
        let end = limit.map { min(matching, start + $0) } ?? matching
        self.page = page
        self.resultsPerPage = resultsPerPage
        numResults = end - start
        totalPages = (numResults + resultsPerPage - 1) / resultsPerPage
        let (skipped, overflow) = (page - 1).multipliedReportingOverflow(by: resultsPerPage)
        rowOffset = overflow ? end : min(end, start + skipped)
        rowLimit = max(0, min(resultsPerPage, end - rowOffset))
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
